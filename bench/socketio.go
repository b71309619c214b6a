package bench

import (
	"bytes"
	"fmt"
	"time"

	"github.com/fasthttp/websocket"
)

// The bench also speaks the protocol of the classic socket.io signaling
// server (../shared/baselines/socketio-ref: 'create or join' -> 'created' |
// 'joined' | 'full', 'join' to the one waiting, 'message' relayed in the
// room), over Engine.IO v4 on a plain WebSocket. That way one Go driver,
// which does not saturate before the servers do, can push both servers to
// their limits.
//
// Engine.IO packets used: "0{...}" open, "2" ping, "3" pong; socket.io
// packets inside "4": "40" connect, "42[...]" event.

// Protocol names for SignalConfig.Protocol.
const (
	ProtocolTandem   = "tandem"
	ProtocolSocketIO = "socketio"
)

// socketIOPath is the Engine.IO WebSocket endpoint, without a session id.
const socketIOPath = "/socket.io/?EIO=4&transport=websocket"

// socketIOJoin takes conn through the Engine.IO and socket.io handshakes
// into room and reports whether the client was first ('created').
func socketIOJoin(conn *websocket.Conn, room string) (created bool, err error) {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	if _, open, err := conn.ReadMessage(); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
		return false, fmt.Errorf("bench: socket.io open packet %.40q: %v", open, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		return false, fmt.Errorf("bench: socket.io connect: %w", err)
	}
	// Like socket.io's own client, emit only once the namespace is joined.
	if _, ack, err := conn.ReadMessage(); err != nil || !bytes.HasPrefix(ack, []byte("40")) {
		return false, fmt.Errorf("bench: socket.io connect ack %.40q: %v", ack, err)
	}
	join := fmt.Appendf(nil, `42["create or join",%q]`, room)
	if err := conn.WriteMessage(websocket.TextMessage, join); err != nil {
		return false, fmt.Errorf("bench: socket.io join: %w", err)
	}
	for {
		_, p, err := conn.ReadMessage()
		switch {
		case err != nil:
			return false, fmt.Errorf("bench: socket.io join: %w", err)
		case bytes.HasPrefix(p, []byte(`42["created"`)):
			return true, nil
		case bytes.HasPrefix(p, []byte(`42["joined"`)):
			return false, nil
		case bytes.HasPrefix(p, []byte(`42["full"`)):
			return false, fmt.Errorf("bench: socket.io room %s is full", room)
		case bytes.Equal(p, []byte("2")):
			if err := conn.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				return false, err
			}
		}
	}
}
