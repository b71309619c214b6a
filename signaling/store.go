package signaling

import (
	"context"
	"time"
)

// Store keeps every room's seats and carries messages to whichever instance
// holds a seat's connection. MemoryStore serves one process; RedisStore lets
// several Tandem instances share rooms.
//
// A seat is held by a connection on some instance, or away. A held seat's
// lease is kept fresh by its instance's Maintain; an away seat has a lease
// of its grace period. A seat whose lease ran out is gone: the next
// operation on its room removes it.
type Store interface {
	// Listen registers the function that receives messages published to
	// seats held on this instance. It returns whether a local connection
	// took the message, and does not keep msg. Call it once, before
	// anything else.
	Listen(deliver func(peerID string, msg []byte) bool)

	// Join takes, for this instance, the seat whose token matches token in
	// room, or else a free seat. It returns ErrRoomFull when both seats are
	// taken.
	Join(ctx context.Context, room, token string) (JoinResult, error)
	// Leave frees a seat held here at once and returns the id of the other
	// seat, or "".
	Leave(ctx context.Context, room, peerID string) (otherID string, err error)
	// Away keeps a seat held here, whose connection dropped, for grace: its
	// owner may take it back.
	Away(ctx context.Context, room, peerID string, grace time.Duration) error
	// Maintain renews the leases of the seats held here and reports, for
	// each, whether it still exists, is still held here, and the other
	// peer's id.
	Maintain(ctx context.Context, held []SeatRef) ([]SeatState, error)

	// Publish sends msg to the instance holding peerID in room. delivered
	// is false when no connection holds that seat now. It does not keep
	// msg: the caller reuses it.
	Publish(ctx context.Context, room, peerID string, msg []byte) (delivered bool, err error)

	// Ready reports whether the store can serve (Redis reachable).
	Ready(ctx context.Context) error
	// Counts counts rooms and seats, for tests and metrics. It may be slow.
	Counts(ctx context.Context) (rooms, seats int, err error)
}

// JoinResult is what Join decided.
type JoinResult struct {
	PeerID    string // the peer id others see
	SeatToken string // proves ownership of the seat on reconnect
	OtherID   string // the other peer's id, or "" when alone
	Resumed   bool   // the seat was taken back with its seat token
}

// SeatRef names a seat, by its room and the id of the peer in it.
type SeatRef struct {
	Room, PeerID string
}

// SeatState is what Maintain found for one held seat.
type SeatState struct {
	Exists  bool   // false: the seat expired or was freed; its holder lost it
	Moved   bool   // its owner took it back on another instance
	OtherID string // the other peer's id, or "" when it is gone
}

// Messages between instances: a kind byte, then the payload.
const (
	msgFrame      = 'F' // a frame to send to the client as it is
	msgPeerJoined = 'J' // payload: the newcomer's peer id
	msgPeerLeft   = 'L' // payload: the leaver's peer id
)
