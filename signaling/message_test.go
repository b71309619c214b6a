package signaling

import (
	"encoding/json"
	"testing"

	"tandem/signaling/wire"
)

// The hub sizes its buffer for a relayed signal with signalSize.
func TestSignalSize(t *testing.T) {
	data := json.RawMessage(`{"description":{"type":"offer","sdp":"v=0\r\n"}}`)
	frame := wire.AppendSignal(nil, "0123456789abcdef", data)
	if len(frame) != signalSize(data) {
		t.Errorf("frame is %d bytes, signalSize says %d", len(frame), signalSize(data))
	}
}
