package signaling

import "errors"

// Sentinel errors returned by the Hub.
var (
	ErrRoomFull    = errors.New("signaling: room is full")
	ErrHubClosed   = errors.New("signaling: server is shutting down")
	ErrInvalidRoom = errors.New("signaling: invalid room name")
	ErrUnavailable = errors.New("signaling: room store unavailable")
)
