package signaling

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// client is a wire.Client that fails its test instead of returning errors.
type client struct {
	t *testing.T
	*wire.Client
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	c, err := wire.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Client: c}
}

// next reads the next server message, failing the test after 5 s.
func (c *client) next() wire.ServerMessage {
	c.t.Helper()
	m, err := c.Next(5 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *client) expect(typ string) wire.ServerMessage {
	c.t.Helper()
	m, err := c.Expect(typ, 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// signal sends data, a JSON object, to the other peer.
func (c *client) signal(data string) {
	c.t.Helper()
	if err := c.Signal(json.RawMessage(data)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) leave() {
	c.t.Helper()
	if err := c.Leave(); err != nil {
		c.t.Fatal(err)
	}
}

// sendRaw sends frame as it is: a malformed one, or a flood.
func (c *client) sendRaw(frame string) {
	c.t.Helper()
	if err := c.SendRaw([]byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// closeCode reads until the connection ends and returns its close code.
func (c *client) closeCode() int {
	c.t.Helper()
	code, err := c.WaitClose(5 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// pair joins two clients to room and returns them after the handshake.
func pair(t *testing.T, base, room string) (first, second *client, firstID, secondID string) {
	t.Helper()
	first = dial(t, base+room)
	created := first.expect(wire.TypeCreated)
	second = dial(t, base+room)
	joined := second.expect(wire.TypeJoined)
	pj := first.expect(wire.TypePeerJoined)
	if len(joined.Peers) != 1 || joined.Peers[0] != created.Peer || pj.Peer != joined.Peer {
		t.Fatalf("ids do not match: created %+v, joined %+v, peer-joined %+v", created, joined, pj)
	}
	return first, second, created.Peer, joined.Peer
}
