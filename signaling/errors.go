package signaling

import (
	"errors"

	"tandem/signaling/wire"
)

// Sentinel errors returned by the Hub.
var (
	ErrRoomFull    = errors.New("signaling: room is full")
	ErrHubClosed   = errors.New("signaling: server is shutting down")
	ErrInvalidRoom = errors.New("signaling: invalid room name")
	ErrUnavailable = errors.New("signaling: room store unavailable")
)

// CodeInvalidRoom starts the body of the 400 that refuses an upgrade to an
// invalid room.
//
// Deprecated: use wire.CodeInvalidRoom, the protocol's own; this stays
// until app/ says so.
const CodeInvalidRoom = wire.CodeInvalidRoom
