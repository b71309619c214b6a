package signaling

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"
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
	closeTryLater  = websocket.CloseTryAgainLater
	closeReplaced  = 4000        // the seat was taken back by a newer connection
	closeGrace     = time.Second // how long to wait for the client's answering close frame
)

// JoinRequest is what a connection asks for.
type JoinRequest struct {
	Room     string     // normalised room name
	PageHost string     // host the client connected to, for TURN URLs
	ClientIP netip.Addr // for per-address limits
	Seat     string     // seat token from an earlier created/joined, or ""
}

// Peer is one connected client. Its methods only enqueue: the connection's
// single writer goroutine does the writing.
type Peer struct {
	// Static after construction.
	room string
	conn Conn
	log  *slog.Logger

	seat *seat // set by join before the read loop starts, then fixed

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

// refuse answers a connection that cannot be served with an error and a
// close frame, without seating it.
func (h *Hub) refuse(conn Conn, code, message string, closeCode int) {
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, errorMessage(code, message))
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code), time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.Close()
}

var refusals = map[string]string{
	CodeServerShutdown:     "The server is shutting down. Try again in a moment.",
	CodeServerBusy:         "The server is at capacity. Try again in a moment.",
	CodeTooManyConnections: "Too many connections from your network. Close some tabs and try again.",
	CodeTooManyJoins:       "Too many joins from your network in the last minute. Try again shortly.",
}

// Serve runs one client connection until it ends. Serve closes conn before
// it returns and never leaves a goroutine behind.
func (h *Hub) Serve(conn Conn, req JoinRequest) {
	h.mu.Lock()
	closed := h.closed
	if !closed {
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if closed {
		h.refuse(conn, CodeServerShutdown, refusals[CodeServerShutdown], closeGoingAway)
		return
	}
	defer h.wg.Done()

	if code := h.admit.admit(req.ClientIP); code != "" {
		h.log.Warn("connection refused", "reason", code, "client", h.label(req.ClientIP.String()))
		h.refuse(conn, code, refusals[code], closeTryLater)
		return
	}
	defer h.admit.release(req.ClientIP)

	p := &Peer{
		room:  req.Room,
		conn:  conn,
		queue: make(chan []byte, h.cfg.QueueSize),
		done:  make(chan struct{}),
		log:   h.log.With("room", h.label(req.Room)),
	}
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		h.write(p, readerDone)
	}()
	defer func() { <-writerDone }()

	res, err := h.join(p, req.Seat)
	switch {
	case errors.Is(err, ErrRoomFull):
		p.log.Info("room full")
		p.send(encode(ServerMessage{Type: TypeFull, Room: req.Room}))
		p.stop(closeNormal, "room full")
		close(readerDone)
		return
	case errors.Is(err, ErrServerBusy):
		p.log.Warn("too many rooms")
		p.send(errorMessage(CodeServerBusy, refusals[CodeServerBusy]))
		p.stop(closeTryLater, CodeServerBusy)
		close(readerDone)
		return
	case err != nil:
		p.send(errorMessage(CodeServerShutdown, refusals[CodeServerShutdown]))
		p.stop(closeGoingAway, "server shutdown")
		close(readerDone)
		return
	}
	id := res.seat.id
	p.log = p.log.With("peer", id)
	if res.replaced != nil {
		res.replaced.stop(closeReplaced, "replaced by a newer connection")
	}
	hello := ServerMessage{Type: TypeCreated, Room: req.Room, Peer: id, Seat: res.seat.token,
		Resumed: res.resumed, ICEServers: h.cfg.ICEServers(id, req.PageHost)}
	if res.otherID != "" {
		hello.Type, hello.Peers = TypeJoined, []string{res.otherID}
	}
	p.send(encode(hello))
	if res.otherPeer != nil && !res.resumed {
		res.otherPeer.send(encode(ServerMessage{Type: TypePeerJoined, Peer: id}))
	}
	p.log.Info("joined", "alone", res.otherID == "", "resumed", res.resumed)

	goodbye, err := h.read(p)

	if other := h.leave(p, goodbye); other != nil {
		other.send(encode(ServerMessage{Type: TypePeerLeft, Peer: id}))
	}
	p.stop(closeNormal, "")
	if errors.Is(err, websocket.ErrReadLimit) {
		// The library has sent 1009. Read what the client still sends, so
		// closing does not reset the connection and lose that close frame.
		_ = conn.NetConn().SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, conn.NetConn())
	}
	close(readerDone)
	p.log.Info("left", "goodbye", goodbye)
}

// read handles the client's frames until the connection ends. goodbye
// reports whether the client meant to leave (a leave message or a close
// frame) or was put out for abuse, as opposed to a dropped connection.
func (h *Hub) read(p *Peer) (goodbye bool, err error) {
	p.conn.SetReadLimit(h.cfg.MaxMessageSize)
	_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	p.conn.SetPongHandler(func(string) error {
		return p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	})
	limiter := rate.NewLimiter(rate.Limit(h.cfg.MessageRate), h.cfg.MessageBurst)
	for {
		kind, frame, err := p.conn.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				p.log.Warn("frame too large")
				return true, err
			case websocket.IsCloseError(err, closeNormal, closeGoingAway):
				return true, err
			}
			return false, err
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
		if h.cfg.MessageBurst > 0 && !limiter.Allow() {
			p.log.Warn("message rate exceeded")
			p.send(errorMessage(CodeRateLimited, "Too many messages. The connection is closed."))
			p.stop(closePolicy, CodeRateLimited)
			return true, nil
		}
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
			other, seated := h.other(p)
			switch {
			case other != nil:
				other.send(encodeSignal(p.seat.id, m.Data))
			case seated:
				p.send(errorMessage(CodeNoPeer, "The other person is reconnecting; this message was not delivered."))
			default:
				p.send(errorMessage(CodeNoPeer, "Nobody else is in the room yet; this message was not delivered."))
			}
		case TypeLeave:
			return true, nil
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
