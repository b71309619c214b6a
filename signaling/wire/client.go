package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// DialOptions configures Dial. A nil *DialOptions is the zero value: the
// system's roots for wss:// and a plain net.Dialer.
type DialOptions struct {
	// TLS is the client configuration for a wss:// URL.
	TLS *tls.Config
	// NetDial, when set, opens the TCP connection (a source address of
	// one's own, a connection that does something odd for a test).
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Header is added to the upgrade request: an Origin, say.
	Header http.Header
}

// writeTimeout bounds each write, as the server's does.
const writeTimeout = 10 * time.Second

// Client is one signaling connection, a room's seat once the server has
// greeted it. One goroutine reads (Next, Expect, WaitClose) while any
// number send: writes are serialised.
type Client struct {
	conn   *websocket.Conn
	header http.Header // of the server's 101

	wmu sync.Mutex // one writer at a time

	closeCode atomic.Int32 // of the server's close frame, once Next saw it
	closeOnce sync.Once
}

// ErrClosed is wrapped by the error of Next (and Expect) once the server
// has closed the socket with a close frame; CloseCode tells its code.
var ErrClosed = errors.New("wire: closed by the server")

// HandshakeError is Dial's error when the server answered the upgrade
// request without upgrading: an invalid room (400), a refused Origin
// (403).
type HandshakeError struct {
	StatusCode int
	Header     http.Header
	Err        error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("wire: upgrade refused with %d %s: %v", e.StatusCode, http.StatusText(e.StatusCode), e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Dial opens the signaling WebSocket at url, ws://host/ws/<room> or
// wss://, with ?seat=<token> to take a seat back. The server's first
// message, created, joined, full or an error, is for Next or Expect.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	d := websocket.Dialer{
		TLSClientConfig:  opts.TLS,
		NetDialContext:   opts.NetDial,
		HandshakeTimeout: 10 * time.Second,
		Proxy:            http.ProxyFromEnvironment,
	}
	conn, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Header: resp.Header, Err: err}
		}
		return nil, fmt.Errorf("wire: dial %s: %w", url, err)
	}
	return &Client{conn: conn, header: resp.Header}, nil
}

// UpgradeHeader is the header of the server's 101 answer.
func (c *Client) UpgradeHeader() http.Header { return c.header }

// Next reads the server's next message, waiting at most timeout (0: for
// ever). Once the server has closed the socket its error wraps ErrClosed.
func (c *Client) Next(timeout time.Duration) (ServerMessage, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	_ = c.conn.SetReadDeadline(deadline)
	_, frame, err := c.conn.ReadMessage()
	if err != nil {
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
			c.closeCode.Store(int32(ce.Code))
			return ServerMessage{}, fmt.Errorf("%w with %d %q", ErrClosed, ce.Code, ce.Text)
		}
		return ServerMessage{}, fmt.Errorf("wire: read: %w", err)
	}
	var m ServerMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		return ServerMessage{}, fmt.Errorf("wire: decode %.200s: %w", frame, err)
	}
	return m, nil
}

// Expect reads the server's next message, which must be of type typ.
func (c *Client) Expect(typ string, timeout time.Duration) (ServerMessage, error) {
	m, err := c.Next(timeout)
	switch {
	case err != nil:
		return m, fmt.Errorf("wire: waiting for %s: %w", typ, err)
	case m.Type == TypeError && typ != TypeError:
		return m, fmt.Errorf("wire: got error %s (%s), want %s", m.Code, m.Message, typ)
	case m.Type != typ:
		return m, fmt.Errorf("wire: got %s %+v, want %s", m.Type, m, typ)
	}
	return m, nil
}

// WaitClose reads, and drops, the server's messages until it closes the
// socket, waiting at most timeout in all, and returns the code of its
// close frame.
func (c *Client) WaitClose(timeout time.Duration) (code int, err error) {
	deadline := time.Now().Add(timeout)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, fmt.Errorf("wire: not closed within %v", timeout)
		}
		if _, err := c.Next(wait); err != nil {
			if errors.Is(err, ErrClosed) {
				return c.CloseCode(), nil
			}
			return 0, err
		}
	}
}

// CloseCode is the code of the server's close frame, once Next has
// returned it; 0 before.
func (c *Client) CloseCode() int { return int(c.closeCode.Load()) }

// Send writes one message.
func (c *Client) Send(m ClientMessage) error {
	frame, err := marshal(m)
	if err != nil {
		return fmt.Errorf("wire: encode %s: %w", m.Type, err)
	}
	return c.write(websocket.TextMessage, frame)
}

// marshal encodes v as JSON.stringify does: without encoding/json's
// escapes of <, > and &, so that what a Go client sends is relayed, and
// compared, byte for byte.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Signal sends data, which must encode to a JSON object (a Signal, a
// json.RawMessage, a map), to the other peer in the room.
func (c *Client) Signal(data any) error {
	raw, err := marshal(data)
	if err != nil {
		return fmt.Errorf("wire: encode signal: %w", err)
	}
	return c.Send(ClientMessage{Type: TypeSignal, Data: raw})
}

// Ping asks the server for a pong, which Next then returns.
func (c *Client) Ping() error { return c.Send(ClientMessage{Type: TypePing}) }

// Leave leaves the room: the other peer is told at once, and the server
// closes the socket with CloseNormal.
func (c *Client) Leave() error { return c.Send(ClientMessage{Type: TypeLeave}) }

// SendRaw writes frame as one text frame, as it is: for tests of what the
// server makes of malformed input.
func (c *Client) SendRaw(frame []byte) error { return c.write(websocket.TextMessage, frame) }

// SendBinary writes frame as one binary frame, which the protocol does
// not allow: for tests.
func (c *Client) SendBinary(frame []byte) error { return c.write(websocket.BinaryMessage, frame) }

func (c *Client) write(kind int, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteMessage(kind, frame); err != nil {
		return fmt.Errorf("wire: write: %w", err)
	}
	return nil
}

// SendClose sends a close frame with code, as a browser's
// WebSocket.close(code) does: CloseNormal or CloseGoingAway say goodbye,
// CloseGiveUp does not. The server answers with its own close frame,
// which Next returns; Close the client after.
func (c *Client) SendClose(code int, text string) error {
	msg := websocket.FormatCloseMessage(code, text)
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("wire: write close: %w", err)
	}
	return nil
}

// Close closes the network connection at once, without a close frame: to
// the server the network dropped, and the seat is held for its owner to
// come back. Closing twice is harmless.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}
