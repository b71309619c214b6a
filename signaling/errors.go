package signaling

import "errors"

// Sentinel errors returned by the Hub.
var (
	ErrRoomFull    = errors.New("signaling: room is full")
	ErrHubClosed   = errors.New("signaling: server is shutting down")
	ErrInvalidRoom = errors.New("signaling: invalid room name")
	ErrUnavailable = errors.New("signaling: room store unavailable")
)

// Error codes sent to clients in {"type":"error","code":...}. They are part of
// the wire protocol (docs/protocol.md): never rename one.
const (
	CodeBadMessage         = "bad-message"
	CodeInvalidRoom        = "invalid-room"
	CodeNoPeer             = "no-peer"
	CodeServerShutdown     = "server-shutdown"
	CodeRateLimited        = "rate-limited"
	CodeTooManyConnections = "too-many-connections"
	CodeTooManyJoins       = "too-many-joins"
	CodeServerBusy         = "server-busy"
	CodeUnavailable        = "unavailable"
)
