// Package wiretest is wire.Client for tests: each method fails its test
// instead of returning an error, and every client closes when its test
// ends.
package wiretest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// timeout bounds a Client's wait for one message or for its close.
const timeout = 10 * time.Second

// Client is a signaling client that fails its test instead of returning
// errors; wire.Client's own methods are there too.
type Client struct {
	t testing.TB
	*wire.Client
}

// Dial opens the signaling WebSocket at url (ws:// or wss://) and closes
// it when t ends.
func Dial(t testing.TB, url string, opts *wire.DialOptions) *Client {
	t.Helper()
	c, err := wire.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Client: c}
}

// MustNext reads the next server message.
func (c *Client) MustNext() wire.ServerMessage {
	c.t.Helper()
	m, err := c.Next(timeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// MustExpect reads the next server message, which must be of type typ.
func (c *Client) MustExpect(typ string) wire.ServerMessage {
	c.t.Helper()
	m, err := c.Expect(typ, timeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// MustSignal sends data, a JSON object, to the other peer.
func (c *Client) MustSignal(data string) {
	c.t.Helper()
	if err := c.Signal(json.RawMessage(data)); err != nil {
		c.t.Fatal(err)
	}
}

// MustLeave says goodbye to the room.
func (c *Client) MustLeave() {
	c.t.Helper()
	if err := c.Leave(); err != nil {
		c.t.Fatal(err)
	}
}

// MustSendRaw sends frame as it is: a malformed one, or a flood.
func (c *Client) MustSendRaw(frame string) {
	c.t.Helper()
	if err := c.SendRaw([]byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// MustCloseCode reads until the connection ends and returns its close
// code.
func (c *Client) MustCloseCode() int {
	c.t.Helper()
	code, err := c.WaitClose(timeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// For returns the client failing t instead of the test that dialled it,
// for use in a subtest.
func (c *Client) For(t testing.TB) *Client { return &Client{t: t, Client: c.Client} }
