package signaling

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Conn is the part of a gorilla-style WebSocket connection the hub uses.
// Both fasthttp/websocket (under Fiber) and its net/http flavour satisfy it.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	NetConn() net.Conn
	Close() error
}

// WebSocket close codes the hub uses.
const (
	closeNormal    = websocket.CloseNormalClosure
	closeGoingAway = websocket.CloseGoingAway
	closePolicy    = websocket.ClosePolicyViolation
)

// closeGrace is how long the server waits for a client's answering close
// frame before it closes the socket anyway.
const closeGrace = time.Second

// Peer is one connected client. Its methods only enqueue: the connection's
// single writer goroutine does the writing.
type Peer struct {
	// Static after construction.
	id   string
	room string
	conn Conn
	log  *slog.Logger

	queue chan []byte   // outgoing frames, bounded
	done  chan struct{} // closed by stop: the writer closes the connection

	stopOnce  sync.Once
	closeCode int    // written once by stop, read by the writer after done
	closeText string // likewise
}

// send queues a frame for the client. A client too slow to drain its queue
// is disconnected rather than allowed to stall its peer or lose a message.
func (p *Peer) send(frame []byte) {
	select {
	case <-p.done:
	case p.queue <- frame:
	default:
		p.log.Warn("client too slow, disconnecting")
		p.stop(closePolicy, "too slow")
	}
}

// stop asks the writer to flush what is queued, send a close frame with
// code and close the connection. Only the first call counts.
func (p *Peer) stop(code int, text string) {
	p.stopOnce.Do(func() {
		p.closeCode, p.closeText = code, text
		close(p.done)
	})
}

// Serve runs one client connection in room (already normalised) until it
// ends. pageHost is the host the client connected to, used for TURN URLs.
// Serve closes conn before it returns and never leaves a goroutine behind.
func (h *Hub) Serve(conn Conn, room, pageHost string) {
	p := &Peer{
		id:    newPeerID(),
		room:  room,
		conn:  conn,
		queue: make(chan []byte, h.cfg.QueueSize),
		done:  make(chan struct{}),
	}
	p.log = h.log.With("peer", p.id)

	h.mu.Lock()
	closed := h.closed
	if !closed {
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if closed {
		_ = conn.WriteMessage(websocket.TextMessage, errorMessage(CodeServerShutdown, "The server is shutting down."))
		_ = conn.Close()
		return
	}
	defer h.wg.Done()

	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		h.write(p, readerDone)
	}()
	defer func() { <-writerDone }()

	other, err := h.join(p)
	switch {
	case errors.Is(err, ErrRoomFull):
		p.log.Info("room full")
		p.send(encode(ServerMessage{Type: TypeFull, Room: room}))
		p.stop(closeNormal, "room full")
		close(readerDone)
		return
	case err != nil:
		p.send(errorMessage(CodeServerShutdown, "The server is shutting down."))
		p.stop(closeGoingAway, "server shutdown")
		close(readerDone)
		return
	case other == nil:
		p.send(encode(ServerMessage{Type: TypeCreated, Room: room, Peer: p.id, ICEServers: h.cfg.ICEServers(p.id, pageHost)}))
	default:
		p.send(encode(ServerMessage{Type: TypeJoined, Room: room, Peer: p.id, Peers: []string{other.id}, ICEServers: h.cfg.ICEServers(p.id, pageHost)}))
		other.send(encode(ServerMessage{Type: TypePeerJoined, Peer: p.id}))
	}
	p.log.Info("joined", "alone", other == nil)

	err = h.read(p)

	if other := h.leave(p); other != nil {
		other.send(encode(ServerMessage{Type: TypePeerLeft, Peer: p.id}))
	}
	p.stop(closeNormal, "")
	if errors.Is(err, websocket.ErrReadLimit) {
		// The library has sent 1009. Read what the client still sends, so
		// closing does not reset the connection and lose that close frame.
		_ = conn.NetConn().SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, conn.NetConn())
	}
	close(readerDone)
	p.log.Info("left")
}

// read handles the client's frames until the connection fails (the error is
// returned) or the client leaves (nil).
func (h *Hub) read(p *Peer) error {
	p.conn.SetReadLimit(h.cfg.MaxMessageSize)
	_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	p.conn.SetPongHandler(func(string) error {
		return p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	})
	for {
		kind, frame, err := p.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				p.log.Warn("frame too large")
			}
			return err
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
		if kind != websocket.TextMessage {
			p.send(errorMessage(CodeBadMessage, "Only text frames holding JSON are accepted."))
			continue
		}
		m, err := DecodeClientMessage(frame)
		if err != nil {
			p.send(errorMessage(CodeBadMessage, err.Error()))
			continue
		}
		switch m.Type {
		case TypeSignal:
			other := h.other(p)
			if other == nil {
				p.send(errorMessage(CodeNoPeer, "Nobody else is in the room yet."))
				continue
			}
			other.send(encodeSignal(p.id, m.Data))
		case TypeLeave:
			return nil
		}
	}
}

// write is the connection's only writer: it sends queued frames and pings.
// On stop it flushes the queue and sends a close frame, then gives the
// reader a moment to see the client's answering close frame before closing
// the socket (which ends the reader in any case).
func (h *Hub) write(p *Peer, readerDone <-chan struct{}) {
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	defer p.conn.Close()
	for {
		select {
		case frame := <-p.queue:
			if err := h.writeFrame(p, frame); err != nil {
				p.stop(closeGoingAway, "")
				return
			}
		case <-ping.C:
			if err := p.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
				p.stop(closeGoingAway, "")
				return
			}
		case <-p.done:
			h.flush(p)
			select {
			case <-readerDone:
			case <-time.After(closeGrace):
			}
			return
		}
	}
}

// flush writes what is still queued, then the close frame.
func (h *Hub) flush(p *Peer) {
	for {
		select {
		case frame := <-p.queue:
			if h.writeFrame(p, frame) != nil {
				return
			}
		default:
			msg := websocket.FormatCloseMessage(p.closeCode, p.closeText)
			_ = p.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.cfg.WriteTimeout))
			return
		}
	}
}

func (h *Hub) writeFrame(p *Peer, frame []byte) error {
	_ = p.conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	return p.conn.WriteMessage(websocket.TextMessage, frame)
}
