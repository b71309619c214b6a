package signaling

import (
	"context"
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
	// Static after construction (seatID: after join, before anyone else
	// can see the peer).
	room   string
	seatID string
	conn   Conn
	log    *slog.Logger

	queue chan []byte   // outgoing frames, bounded
	done  chan struct{} // closed by stop: the writer closes the connection

	mu      sync.Mutex
	otherID string // guarded by mu; the other seat's id, or ""

	stopOnce  sync.Once
	closeCode int    // written once by stop, read by the writer after done
	closeText string // likewise
}

func (p *Peer) other() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.otherID
}

// meet records that seat id took the other seat, and tells the client,
// once, however many ways the news arrives.
func (p *Peer) meet(id string) {
	p.mu.Lock()
	news := p.otherID != id
	p.otherID = id
	p.mu.Unlock()
	if news {
		p.send(encode(ServerMessage{Type: TypePeerJoined, Peer: id}))
	}
}

// clearOther forgets the other seat if it is id, and reports whether it was.
func (p *Peer) clearOther(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.otherID != id {
		return false
	}
	p.otherID = ""
	return true
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
func (h *Hub) refuse(conn Conn, code string, closeCode int) {
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, errorMessage(code, refusals[code]))
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code), time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.Close()
}

var refusals = map[string]string{
	CodeServerShutdown:     "The server is shutting down. Try again in a moment.",
	CodeServerBusy:         "The server is at capacity. Try again in a moment.",
	CodeTooManyConnections: "Too many connections from your network. Close some tabs and try again.",
	CodeTooManyJoins:       "Too many joins from your network in the last minute. Try again shortly.",
	CodeUnavailable:        "The room service is unavailable right now. Retrying…",
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
		h.refuse(conn, CodeServerShutdown, closeGoingAway)
		return
	}
	defer h.wg.Done()

	if code := h.admit.admit(req.ClientIP); code != "" {
		h.log.Warn("connection refused", "reason", code, "client", h.label(req.ClientIP.String()))
		h.refuse(conn, code, closeTryLater)
		return
	}
	defer h.admit.release(req.ClientIP)

	log := h.log.With("room", h.label(req.Room))
	res, ok := h.join(conn, req, log)
	if !ok {
		return
	}
	p := &Peer{
		room:    req.Room,
		seatID:  res.SeatID,
		otherID: res.OtherID,
		conn:    conn,
		queue:   make(chan []byte, h.cfg.QueueSize),
		done:    make(chan struct{}),
		log:     log.With("peer", res.SeatID),
	}
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		h.write(p, readerDone)
	}()
	defer func() { <-writerDone }()

	hello := ServerMessage{Type: TypeCreated, Room: req.Room, Peer: res.SeatID, Seat: res.Token,
		Resumed: res.Resumed, ICEServers: h.cfg.ICEServers(res.SeatID, req.PageHost)}
	if res.OtherID != "" {
		hello.Type, hello.Peers = TypeJoined, []string{res.OtherID}
	}
	p.send(encode(hello))

	err := h.announce(p, res)
	switch {
	case errors.Is(err, ErrHubClosed):
		p.send(errorMessage(CodeServerShutdown, refusals[CodeServerShutdown]))
		p.stop(closeGoingAway, "server shutdown")
	case err != nil:
		p.log.Warn("store failed after join", "err", err)
		p.send(errorMessage(CodeUnavailable, refusals[CodeUnavailable]))
		p.stop(closeTryLater, CodeUnavailable)
	default:
		p.log.Info("joined", "alone", res.OtherID == "", "resumed", res.Resumed)
		goodbye, err := h.read(p)
		if errors.Is(err, websocket.ErrReadLimit) {
			// The library has sent 1009. Read what the client still sends,
			// so closing does not reset the connection and lose that frame.
			_ = conn.NetConn().SetReadDeadline(time.Now().Add(time.Second))
			_, _ = io.Copy(io.Discard, conn.NetConn())
		}
		h.leave(p, goodbye)
	}
	h.release(p)
	p.stop(closeNormal, "")
	close(readerDone)
}

// join takes a seat for the connection in the store, or answers it with why
// not (full, capacity, store unavailable) and reports false.
func (h *Hub) join(conn Conn, req JoinRequest, log *slog.Logger) (JoinResult, bool) {
	if !h.roomAllowed(req.Room) {
		log.Warn("too many rooms")
		h.refuse(conn, CodeServerBusy, closeTryLater)
		return JoinResult{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if h.storeDown.Load() {
		// Check again rather than wait for the maintenance loop to notice
		// the store is back.
		if err := h.store.Ready(ctx); err != nil {
			h.refuse(conn, CodeUnavailable, closeTryLater)
			return JoinResult{}, false
		}
		h.storeDown.Store(false)
	}
	res, err := h.store.Join(ctx, req.Room, req.Seat)
	switch {
	case errors.Is(err, ErrRoomFull):
		log.Info("room full")
		h.refuseFull(conn, req.Room)
		return JoinResult{}, false
	case err != nil:
		log.Warn("join failed", "err", err)
		h.refuse(conn, CodeUnavailable, closeTryLater)
		return JoinResult{}, false
	}
	return res, true
}

// announce registers the seated peer here, so that messages find it, and
// makes sure both people in the room know of each other.
func (h *Hub) announce(p *Peer, res JoinResult) error {
	previous, err := h.hold(p)
	if previous != nil {
		previous.stop(closeReplaced, "replaced by a newer connection")
	}
	switch {
	case err != nil:
		return err
	case res.OtherID != "" && !res.Resumed:
		_, err = h.publish(p.room, res.OtherID, control(msgPeerJoined, res.SeatID))
		return err
	case res.OtherID == "":
		// Someone who joined between our Join and hold could not reach us
		// yet: look again now that messages find us.
		return h.lookAgain(p)
	}
	return nil
}

// lookAgain asks the store for the other seat of a peer that joined alone,
// and tells the peer if one has appeared since.
func (h *Hub) lookAgain(p *Peer) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	states, err := h.store.Maintain(ctx, []SeatRef{{Room: p.room, SeatID: p.seatID}})
	if err != nil {
		return err
	}
	if len(states) == 1 && states[0].OtherID != "" {
		p.meet(states[0].OtherID)
	}
	return nil
}

// refuseFull tells a third person the room is full.
func (h *Hub) refuseFull(conn Conn, room string) {
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, encode(ServerMessage{Type: TypeFull, Room: room}))
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeNormal, "room full"), time.Now().Add(h.cfg.WriteTimeout))
	// Give the client a moment to read both before the socket goes.
	_ = conn.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	_ = conn.Close()
}

// leave takes p out of its seat: at once after a goodbye, the other peer
// told; after a drop, the seat is held for SeatGrace. A connection whose
// seat was taken over by a newer one leaves nothing. On shutdown seats are
// held too, so people can take them back on another instance.
func (h *Hub) leave(p *Peer, goodbye bool) {
	h.mu.Lock()
	closing := h.closed
	h.mu.Unlock()
	if !h.holds(p) {
		p.log.Info("left: replaced")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if !goodbye || closing {
		if err := h.store.Away(ctx, p.room, p.seatID, h.cfg.SeatGrace); err != nil {
			p.log.Warn("could not mark seat away; it will expire", "err", err)
		}
		p.log.Info("left: away")
		return
	}
	other, err := h.store.Leave(ctx, p.room, p.seatID)
	if err != nil {
		p.log.Warn("could not free seat; it will expire", "err", err)
		return
	}
	if other != "" {
		if _, err := h.publish(p.room, other, control(msgPeerLeft, p.seatID)); err != nil {
			p.log.Warn("could not tell the other peer; its maintenance will", "err", err)
		}
	}
	p.log.Info("left")
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
			h.relay(p, m.Data)
		case TypeLeave:
			return true, nil
		}
	}
}

// relay sends a signal to the other peer, wherever its connection is.
func (h *Hub) relay(p *Peer, data []byte) {
	other := p.other()
	if other == "" {
		p.send(errorMessage(CodeNoPeer, "Nobody else is in the room yet; this message was not delivered."))
		return
	}
	// One allocation: the kind byte, then the frame the other client gets.
	msg := appendSignal(append(make([]byte, 0, 1+signalSize(data)), msgFrame), p.seatID, data)
	delivered, err := h.publish(p.room, other, msg)
	switch {
	case err != nil:
		p.log.Warn("relay failed", "err", err)
		p.send(errorMessage(CodeUnavailable, "The room service is unavailable; this message was not delivered."))
	case !delivered:
		p.send(errorMessage(CodeNoPeer, "The other person is reconnecting; this message was not delivered."))
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
