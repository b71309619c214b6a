//go:build linux

package bidi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// writeTimeout bounds a command's write when its context has no deadline.
const writeTimeout = 10 * time.Second

// Event is a BiDi event that the session subscribed to, such as
// log.entryAdded.
type Event struct {
	Method string          // the event's name, such as "log.entryAdded"
	Params json.RawMessage // its parameters, as Firefox sent them
}

// message is any message Firefox sends: a command's success or error, or
// an event.
type message struct {
	Type string `json:"type"` // "success", "error" or "event"
	// ID is the command's id; an error about a message that could not be
	// parsed has none.
	ID *uint64 `json:"id"`

	Result json.RawMessage `json:"result"` // of a success

	Error   string `json:"error"`   // of an error: the BiDi error code
	Message string `json:"message"` // of an error: what went wrong

	Method string          `json:"method"` // of an event
	Params json.RawMessage `json:"params"` // of an event
}

// command is a message sent to Firefox.
type command struct {
	ID     uint64 `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params"`
}

// conn is a WebDriver BiDi session's WebSocket. Commands wait for the
// response with their id; one goroutine reads every message.
type conn struct {
	// Static after construction.
	ws      *websocket.Conn
	onEvent func(Event)

	writeMu sync.Mutex // serialises writes: one writer at a time

	// Guarded by mu.
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan message
	err     error // why the reader stopped; set before done is closed

	done chan struct{} // closed when the reader has stopped
}

// newConn starts reading ws. onEvent, if not nil, receives every event from
// the reading goroutine.
func newConn(ws *websocket.Conn, onEvent func(Event)) *conn {
	c := &conn{
		ws:      ws,
		onEvent: onEvent,
		pending: make(map[uint64]chan message),
		done:    make(chan struct{}),
	}
	go c.read()
	return c
}

// read delivers responses to the commands waiting for them and events to
// onEvent, until the connection fails or is closed.
func (c *conn) read() {
	var err error
	for {
		var m message
		if err = c.ws.ReadJSON(&m); err != nil {
			break
		}
		if m.Type == "event" {
			if c.onEvent != nil {
				c.onEvent(Event{Method: m.Method, Params: m.Params})
			}
			continue
		}
		if m.ID == nil {
			continue // an error about a message we never sent
		}
		c.mu.Lock()
		ch := c.pending[*m.ID]
		delete(c.pending, *m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered: never blocks
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("%w: %w", ErrClosed, err)
	c.pending = nil
	c.mu.Unlock()
	close(c.done)
}

// call sends method with params and decodes the result of its success
// into result, unless result is nil. It returns an *Error when Firefox
// answers with an error, and gives up when ctx ends.
func (c *conn) call(ctx context.Context, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("bidi: %s: %w", method, err)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	if err := c.write(ctx, command{ID: id, Method: method, Params: params}); err != nil {
		c.forget(id)
		return fmt.Errorf("bidi: %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Type == "error" {
			return &Error{Method: method, Code: m.Error, Message: m.Message}
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(m.Result, result); err != nil {
			return fmt.Errorf("bidi: %s: decode the result: %w", method, err)
		}
		return nil
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("bidi: %s: %w", method, err)
	case <-ctx.Done():
		c.forget(id)
		return fmt.Errorf("bidi: %s: %w", method, ctx.Err())
	}
}

// write sends cmd, bounded by ctx's deadline or writeTimeout.
func (c *conn) write(ctx context.Context, cmd command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(writeTimeout)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return c.ws.WriteJSON(cmd)
}

// forget stops waiting for the response to command id.
func (c *conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// close closes the WebSocket and waits until the reader has stopped, so
// that onEvent is not called any more.
func (c *conn) close() error {
	err := c.ws.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
