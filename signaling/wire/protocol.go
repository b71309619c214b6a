// Package wire is the Go home of Tandem's signaling protocol, which
// docs/protocol.md describes: the message types, error codes and close
// codes, the shapes of the messages both ways and of a signal's data, the
// server's careful decoding of a client's frame, and a small client.
//
// The server (package signaling), the bench tool and every Go test speak
// the protocol through this package; nothing else declares a message or
// writes a frame by hand. It imports no WebRTC library: a Pion peer
// converts Signal's small structs to and from pion/webrtc's, which have
// the same JSON.
package wire

// Message types, server to client.
const (
	// TypeCreated greets a client alone in the room.
	TypeCreated = "created"
	// TypeJoined greets a client that joined someone: it offers first.
	TypeJoined = "joined"
	// TypePeerJoined tells a client someone joined it.
	TypePeerJoined = "peer-joined"
	// TypePeerLeft tells a client the other left or vanished.
	TypePeerLeft = "peer-left"
	// TypeFull answers a third connection; the socket then closes with
	// CloseNormal.
	TypeFull = "full"
	// TypeError carries a Code and a Message for people.
	TypeError = "error"
	// TypePong answers a TypePing, to that connection only.
	TypePong = "pong"
)

// Message types, client to server. TypeSignal goes both ways: a client
// sends data, and the other client gets it with the sender's id in from.
const (
	// TypeSignal relays data to the other peer in the room.
	TypeSignal = "signal"
	// TypeLeave leaves the room at once; the socket closes with
	// CloseNormal.
	TypeLeave = "leave"
	// TypePing asks the server for a TypePong: a client that suspects its
	// connection died silently (a network that changed under it) learns
	// whether it still reaches the server.
	TypePing = "ping"
	// TypeReport tells the server how the call went (a Report in data),
	// for metrics: the server never sees ICE.
	TypeReport = "report"
)

// Error codes, in a TypeError message's code. They are stable machine
// words: never rename one.
const (
	CodeBadMessage         = "bad-message"          // not I-JSON, no or an unknown type, a signal without an object
	CodeNoPeer             = "no-peer"              // a signal with nobody (reachable) to take it
	CodeServerShutdown     = "server-shutdown"      // the server is stopping; CloseGoingAway follows
	CodeRateLimited        = "rate-limited"         // too many messages; ClosePolicyViolation follows
	CodeTooManyConnections = "too-many-connections" // per client address; CloseTryAgainLater follows
	CodeTooManyJoins       = "too-many-joins"       // per client address per minute; CloseTryAgainLater follows
	CodeServerBusy         = "server-busy"          // server-wide caps; CloseTryAgainLater follows
	CodeUnavailable        = "unavailable"          // the shared room store is unreachable; CloseTryAgainLater follows
	// CodeInvalidRoom starts the body of the HTTP 400 that refuses an
	// upgrade to an invalid room name; it is never sent on a socket.
	CodeInvalidRoom = "invalid-room"
)

// WebSocket close codes. The server uses all but CloseGiveUp, which is the
// browser client's own.
const (
	// CloseNormal follows a leave or full: a goodbye. A client's close
	// frame with it frees its seat at once.
	CloseNormal = 1000
	// CloseGoingAway: the server is shutting down. From a client (a page
	// going away) it is a goodbye too.
	CloseGoingAway = 1001
	// ClosePolicyViolation puts out an abusive client: too many messages,
	// or too slow to read.
	ClosePolicyViolation = 1008
	// CloseMessageTooBig answers a frame over the size limit.
	CloseMessageTooBig = 1009
	// CloseTryAgainLater follows the capacity errors and CodeUnavailable.
	CloseTryAgainLater = 1013
	// CloseGiveUp is the client's: it gave a silent socket up and will
	// reconnect with its seat token. It is not a goodbye: the seat is held.
	CloseGiveUp = 3000
	// CloseReplaced: the seat was taken back by a newer connection with
	// the seat token.
	CloseReplaced = 4000
)
