package signaling

import (
	"encoding/json"
	"fmt"

	"tandem/signaling/wire"
	"tandem/turn"
)

// pongFrame is the server's answer to a ping.
var pongFrame = encode(wire.ServerMessage{Type: wire.TypePong})

// signalSize is the length of a signal frame from a 16-digit peer id.
func signalSize(data json.RawMessage) int {
	return len(`{"type":"`+wire.TypeSignal+`","from":"0123456789abcdef","data":}`) + len(data)
}

func encode(m wire.ServerMessage) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Only a bug can get here: every field is a plain value.
		panic(fmt.Sprintf("signaling: encode %s: %v", m.Type, err))
	}
	return b
}

func errorMessage(code, message string) []byte {
	return encode(wire.ServerMessage{Type: wire.TypeError, Code: code, Message: message})
}

// iceServers converts the TURN server's answer to the protocol's shape.
func iceServers(servers []turn.ICEServer) []wire.ICEServer {
	if len(servers) == 0 {
		return nil
	}
	out := make([]wire.ICEServer, len(servers))
	for i, s := range servers {
		out[i] = wire.ICEServer(s)
	}
	return out
}
