package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// wsClient is a signaling client, a wire.Client that fails its test
// instead of returning errors.
type wsClient struct {
	t *testing.T
	*wire.Client
}

// dialWS joins room on srv, with query (seat=…) when not empty.
func dialWS(t *testing.T, srv testServer, room, query string) *wsClient {
	t.Helper()
	u := srv.wsURL(room)
	if query != "" {
		u += "?" + query
	}
	return dialURL(t, u, nil)
}

// dialURL opens the signaling WebSocket at url, ws:// or wss://.
func dialURL(t *testing.T, url string, opts *wire.DialOptions) *wsClient {
	t.Helper()
	c, err := wire.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, Client: c}
}

// dialRoom joins room over signaling and returns the first message.
func dialRoom(t *testing.T, srv testServer, room string) wire.ServerMessage {
	t.Helper()
	return dialWS(t, srv, room, "").next()
}

// next reads the next server message, failing the test after 10 s.
func (c *wsClient) next() wire.ServerMessage {
	c.t.Helper()
	m, err := c.Next(10 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *wsClient) expect(typ string) wire.ServerMessage {
	c.t.Helper()
	m, err := c.Expect(typ, 10*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// signal sends data, a JSON object, to the other peer.
func (c *wsClient) signal(data string) {
	c.t.Helper()
	if err := c.Signal(json.RawMessage(data)); err != nil {
		c.t.Fatal(err)
	}
}
