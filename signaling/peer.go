package signaling

import (
	"bytes"
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

	"tandem/turn"
)

// Conn is the part of a gorilla-style WebSocket connection the hub uses.
// Both fasthttp/websocket (under Fiber) and its net/http flavour satisfy it.
type Conn interface {
	NextReader() (messageType int, r io.Reader, err error)
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
	Page     turn.Page  // where the client loaded the page from, for TURN URLs
	ClientIP netip.Addr // for per-address limits
	Seat     string     // seat token from an earlier created/joined, or ""
}

// Peer is one connected client. Its methods only enqueue: a writer
// goroutine does the writing, one at a time. It runs only while there is
// something to write and exits when the queue is empty, so an idle
// connection holds one goroutine (its reader), not two, and its pings come
// from a timer rather than a ticker in a goroutine of its own.
type Peer struct {
	// Static after construction (seatID: after join, before anyone else
	// can see the peer).
	hub        *Hub
	room       string
	seatID     string
	conn       Conn
	readerDone chan struct{} // closed by serve when the reader has finished
	closed     chan struct{} // closed by the last writer once conn is closed

	mu        sync.Mutex  // guards everything below
	otherID   string      // the other seat's id, or ""
	otherGen  uint64      // counts changes of otherID: tells a store's answer it is stale
	queue     []outFrame  // frames waiting for the writer
	slots     [2]outFrame // queue's storage while short: no allocation per message
	pingDue   bool        // the ping timer fired: the writer sends a ping
	ping      *time.Timer
	writing   bool // a writer is running; once stopping, it stays true, so no other starts
	stopping  bool // stop was called: flush, send the close frame, close conn
	closeCode int
	closeText string
}

// log writes a record about this peer, with its room and seat. Nothing is
// kept per connection for it, and nothing is computed (the room's label is
// a keyed hash) unless the level is enabled.
func (p *Peer) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !p.hub.log.Enabled(ctx, level) {
		return
	}
	p.hub.log.With("room", p.hub.label(p.room), "peer", p.seatID).Log(ctx, level, msg, args...)
}

// partner returns the other seat's id and how many times it has changed.
func (p *Peer) partner() (id string, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.otherID, p.otherGen
}

// meet records that seat id took the other seat, and tells the client,
// once, however many ways the news arrives.
func (p *Peer) meet(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.otherID != id {
		p.setOtherLocked(id)
	}
}

// partnerLeft forgets the other seat if it is id, and tells the client.
func (p *Peer) partnerLeft(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id != "" && p.otherID == id {
		p.setOtherLocked("")
	}
}

// correctOther makes id, a store's answer, the other seat and tells the
// client, unless the other seat has changed since gen, when the store was
// asked: then the answer is older than the news.
func (p *Peer) correctOther(gen uint64, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.otherGen == gen && p.otherID != id {
		p.setOtherLocked(id)
	}
}

// setOtherLocked changes the other seat and queues the news for the
// client under the same lock, so the client hears changes in the order
// they were made. p.mu must be held.
func (p *Peer) setOtherLocked(id string) {
	msg := ServerMessage{Type: TypePeerJoined, Peer: id}
	if id == "" {
		msg = ServerMessage{Type: TypePeerLeft, Peer: p.otherID}
	}
	p.otherID = id
	p.otherGen++
	_ = p.enqueueLocked(outFrame{data: encode(msg)})
}

// outFrame is a frame waiting for the writer. A relayed frame is held in
// buf, a buffer from the hub's pool, which the writer gives back once the
// frame is written: relaying then leaves no garbage, and the collections
// that garbage caused were most of the relay's latency tail.
type outFrame struct {
	data []byte
	buf  *bytes.Buffer // holds data, or nil
}

// send queues a frame for the client. A client too slow to drain its queue
// is disconnected rather than allowed to stall its peer or lose a message.
func (p *Peer) send(frame []byte) {
	_ = p.enqueue(outFrame{data: frame})
}

// sendCopy queues a copy of frame, which the caller may reuse at once. It
// reports false if the frame was dropped: the client is being put out.
func (p *Peer) sendCopy(frame []byte) bool {
	buf := p.hub.getFrame()
	buf.Write(frame)
	if !p.enqueue(outFrame{data: buf.Bytes(), buf: buf}) {
		p.hub.putFrame(buf)
		return false
	}
	return true
}

func (p *Peer) enqueue(f outFrame) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enqueueLocked(f)
}

// enqueueLocked queues f for the writer, and reports false if it dropped f
// instead: the client is being put out, or is too slow and now will be.
func (p *Peer) enqueueLocked(f outFrame) bool {
	if p.stopping {
		return false
	}
	if len(p.queue) >= p.hub.cfg.QueueSize {
		p.log(slog.LevelWarn, "client too slow, disconnecting")
		p.stopLocked(closePolicy, "too slow")
		return false
	}
	if p.queue == nil {
		p.queue = p.slots[:0]
	}
	p.queue = append(p.queue, f)
	p.wakeLocked()
	return true
}

// stop asks the writer to flush what is queued, send a close frame with
// code and close the connection. Only the first call counts.
func (p *Peer) stop(code int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked(code, text)
}

func (p *Peer) stopLocked(code int, text string) {
	if p.stopping {
		return
	}
	p.stopping = true
	p.closeCode, p.closeText = code, text
	if p.ping != nil {
		p.ping.Stop()
	}
	p.wakeLocked()
}

// startPinging pings the client every interval, through the writer.
func (p *Peer) startPinging(interval time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ping = time.AfterFunc(interval, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopping {
			return
		}
		p.pingDue = true
		p.wakeLocked()
		p.ping.Reset(interval)
	})
}

// wakeLocked starts a writer unless one is running.
func (p *Peer) wakeLocked() {
	if !p.writing {
		p.writing = true
		go p.write()
	}
}

// A writer's job, as next hands it out.
type job uint8

const (
	jobIdle  job = iota // nothing queued: the writer exits, and is forgotten
	jobFrame            // write the frame
	jobPing             // send a ping
	jobClose            // stopped and flushed: send the close frame, close
)

// next hands the writer its next job.
func (p *Peer) next() (job, outFrame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.pingDue:
		p.pingDue = false
		return jobPing, outFrame{}
	case len(p.queue) > 0:
		frame := p.queue[0]
		p.queue[0] = outFrame{}
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			// Drop a backing array grown by a burst, and the frames that
			// slots still holds if a burst moved the queue off it.
			p.queue, p.slots = nil, [2]outFrame{}
		}
		return jobFrame, frame
	case p.stopping:
		return jobClose, outFrame{}
	}
	p.writing = false
	return jobIdle, outFrame{}
}

// write is the connection's writer while there is work: it sends queued
// frames and pings. After stop it flushes the queue and sends a close frame,
// then gives the reader a moment to see the client's answering close frame
// before closing the socket (which ends the reader in any case).
func (p *Peer) write() {
	timeout := p.hub.cfg.WriteTimeout
	for {
		j, frame := p.next()
		var err error
		switch j {
		case jobIdle:
			return
		case jobFrame:
			_ = p.conn.SetWriteDeadline(time.Now().Add(timeout))
			err = p.conn.WriteMessage(websocket.TextMessage, frame.data)
			if frame.buf != nil {
				p.hub.putFrame(frame.buf)
			}
		case jobPing:
			err = p.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(timeout))
		case jobClose:
			msg := websocket.FormatCloseMessage(p.closeCode, p.closeText)
			_ = p.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(timeout))
			select {
			case <-p.readerDone:
			case <-time.After(closeGrace):
			}
			p.closeConn()
			return
		}
		if err != nil {
			// The connection is broken: nothing more can be written.
			p.stop(closeGoingAway, "")
			p.closeConn()
			return
		}
	}
}

func (p *Peer) closeConn() {
	_ = p.conn.Close()
	close(p.closed)
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

// Start seats a client and serves its connection on a goroutine of its
// own. It returns once the client is seated or refused; either way conn is
// closed when the connection ends, and Close waits for that.
//
// Joining and serving run on different goroutines to keep idle connections
// small. A join's calls (the store, crypto/rand, encoding/json, logging)
// grow a goroutine's stack to 8 KiB, and Go shrinks a stack only when less
// than a quarter of it is in use, which a reader waiting for a frame never
// is. So the caller's goroutine, which joins, gives its stack back when it
// returns, and the reader's stays at 4 KiB as long as the connection lasts.
func (h *Hub) Start(conn Conn, req JoinRequest) {
	if !h.enter(conn, req.ClientIP) {
		return
	}
	served := false
	defer func() {
		if !served { // refused, or a panic (recovered by the caller)
			h.exit(req.ClientIP)
		}
	}()
	p, ok := h.seat(conn, req)
	if p == nil {
		return
	}
	served = true
	go h.serve(p, ok, req.ClientIP)
}

// serve reads the seated client's messages, unless it cannot be served
// (ok false: it is being stopped), then gives up its seat and waits until
// the connection is closed.
func (h *Hub) serve(p *Peer, ok bool, ip netip.Addr) {
	defer h.exit(ip)
	defer func() {
		if r := recover(); r != nil {
			p.log(slog.LevelError, "connection handler panicked", "panic", r)
		}
	}()
	// Deferred, so that even a panic leaves no peer registered and no
	// writer running.
	defer func() {
		h.release(p)
		p.stop(closeNormal, "")
		close(p.readerDone)
		<-p.closed
	}()
	if ok {
		h.session(p)
	}
}

// enter admits a connection to the hub, or refuses it (shutting down, or
// over a connection limit) and reports false. An admitted connection must
// call exit.
func (h *Hub) enter(conn Conn, ip netip.Addr) bool {
	h.mu.Lock()
	closed := h.closed
	if !closed {
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if closed {
		h.refuse(conn, CodeServerShutdown, closeGoingAway)
		return false
	}
	if code := h.admit.admit(ip); code != "" {
		h.log.Warn("connection refused", "reason", code, "client", h.label(ip.String()))
		h.refuse(conn, code, closeTryLater)
		h.wg.Done()
		return false
	}
	return true
}

func (h *Hub) exit(ip netip.Addr) {
	h.admit.release(ip)
	h.wg.Done()
}

// session reads the seated client's messages until it leaves or its
// connection ends, then gives up its seat.
func (h *Hub) session(p *Peer) {
	goodbye, err := h.read(p)
	if errors.Is(err, websocket.ErrReadLimit) {
		// The library has sent 1009. Read what the client still sends, so
		// closing does not reset the connection and lose that frame.
		_ = p.conn.NetConn().SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, p.conn.NetConn())
	}
	h.leave(p, goodbye)
}

// seat joins the room, greets the client and makes the peer known here. It
// returns nil if the connection was refused, and ok false if the peer was
// seated but cannot be served (it is being stopped, with the reason told).
func (h *Hub) seat(conn Conn, req JoinRequest) (p *Peer, ok bool) {
	res, unlockSeats, ok := h.join(conn, req)
	if !ok {
		return nil, false
	}
	p = &Peer{
		hub:        h,
		room:       req.Room,
		seatID:     res.SeatID,
		otherID:    res.OtherID,
		conn:       conn,
		readerDone: make(chan struct{}),
		closed:     make(chan struct{}),
	}
	p.startPinging(h.cfg.PingInterval)

	hello := ServerMessage{Type: TypeCreated, Room: req.Room, Peer: res.SeatID, Seat: res.Token,
		Resumed: res.Resumed, ICEServers: h.cfg.ICEServers(res.SeatID, req.Page)}
	if res.OtherID != "" {
		hello.Type, hello.Peers = TypeJoined, []string{res.OtherID}
	}
	p.send(encode(hello))

	err := h.announce(p, res)
	unlockSeats()
	switch {
	case errors.Is(err, ErrHubClosed):
		p.send(errorMessage(CodeServerShutdown, refusals[CodeServerShutdown]))
		p.stop(closeGoingAway, "server shutdown")
		return p, false
	case err != nil:
		p.log(slog.LevelWarn, "store failed after join", "err", err)
		p.send(errorMessage(CodeUnavailable, refusals[CodeUnavailable]))
		p.stop(closeTryLater, CodeUnavailable)
		return p, false
	}
	p.log(slog.LevelInfo, "joined", "alone", res.OtherID == "", "resumed", res.Resumed)
	return p, true
}

// join takes a seat for the connection in the store, or answers it with why
// not (full, capacity, store unavailable) and reports false. A connection
// taking its seat back returns holding the room's seat lock (see
// roomHere.seats), which the caller unlocks with unlockSeats once the peer
// is held; answers are sent without it.
func (h *Hub) join(conn Conn, req JoinRequest) (res JoinResult, unlockSeats func(), ok bool) {
	if !h.claimRoom(req.Room) {
		h.log.Warn("too many rooms", "room", h.label(req.Room))
		h.refuse(conn, CodeServerBusy, closeTryLater)
		return JoinResult{}, nil, false
	}
	defer func() {
		if !ok {
			h.releaseRoom(req.Room)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if h.storeDown.Load() {
		// Check again rather than wait for the maintenance loop to notice
		// the store is back.
		if err := h.store.Ready(ctx); err != nil {
			h.refuse(conn, CodeUnavailable, closeTryLater)
			return JoinResult{}, nil, false
		}
		h.storeDown.Store(false)
	}
	unlockSeats = func() {}
	if req.Seat != "" { // taking a seat back: not amid its old connection's departure
		unlockSeats = h.lockSeats(req.Room)
	}
	res, err := h.store.Join(ctx, req.Room, req.Seat)
	if err != nil {
		unlockSeats()
	}
	switch {
	case errors.Is(err, ErrRoomFull):
		h.log.Info("room full", "room", h.label(req.Room))
		h.refuseFull(conn, req.Room)
		return JoinResult{}, nil, false
	case err != nil:
		h.log.Warn("join failed", "room", h.label(req.Room), "err", err)
		h.refuse(conn, CodeUnavailable, closeTryLater)
		return JoinResult{}, nil, false
	}
	return res, unlockSeats, true
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
	_, gen := p.partner()
	states, err := h.store.Maintain(ctx, []SeatRef{{Room: p.room, SeatID: p.seatID}})
	if err != nil {
		return err
	}
	if len(states) == 1 {
		p.correctOther(gen, states[0].OtherID)
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
		if _, _, err := conn.NextReader(); err != nil { // skips the frame before
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
	unlockSeats := h.lockSeats(p.room)
	defer unlockSeats()
	if !h.holds(p) {
		p.log(slog.LevelInfo, "left: replaced")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if !goodbye || closing {
		if err := h.store.Away(ctx, p.room, p.seatID, h.cfg.SeatGrace); err != nil {
			p.log(slog.LevelWarn, "could not mark seat away; it will expire", "err", err)
		}
		p.log(slog.LevelInfo, "left: away")
		return
	}
	other, err := h.store.Leave(ctx, p.room, p.seatID)
	if err != nil {
		p.log(slog.LevelWarn, "could not free seat; it will expire", "err", err)
		return
	}
	if other != "" {
		if _, err := h.publish(p.room, other, control(msgPeerLeft, p.seatID)); err != nil {
			p.log(slog.LevelWarn, "could not tell the other peer; its maintenance will", "err", err)
		}
	}
	p.log(slog.LevelInfo, "left")
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
		leave, err := h.readFrame(p, limiter)
		if err != nil {
			return h.readEnded(p, err), err
		}
		if leave {
			return true, nil
		}
	}
}

// readFrame reads the client's next frame and handles it. Frames are read
// into buffers the hub's connections share: nothing keeps a frame once it
// is handled (a relayed signal is copied into the frame the other peer
// gets), and a buffer of its own cost every frame three allocations and
// ~3 KB of garbage for a 1 KB signal (io.ReadAll's growth).
func (h *Hub) readFrame(p *Peer, limiter *rate.Limiter) (leave bool, err error) {
	kind, r, err := p.conn.NextReader()
	if err != nil {
		return false, err
	}
	buf := h.getFrame()
	defer h.putFrame(buf)
	if _, err := buf.ReadFrom(r); err != nil {
		return false, err
	}
	return h.handle(p, limiter, kind, buf.Bytes()), nil
}

// readEnded reports whether the error that ended reading was a goodbye.
func (h *Hub) readEnded(p *Peer, err error) (goodbye bool) {
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		p.log(slog.LevelWarn, "frame too large")
		return true
	case websocket.IsCloseError(err, closeNormal, closeGoingAway):
		return true
	}
	return false
}

// handle acts on one frame from the client. It reports whether the client
// is leaving or has been put out.
func (h *Hub) handle(p *Peer, limiter *rate.Limiter, kind int, frame []byte) (leave bool) {
	_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	if h.cfg.MessageBurst > 0 && !limiter.Allow() {
		p.log(slog.LevelWarn, "message rate exceeded")
		p.send(errorMessage(CodeRateLimited, "Too many messages. The connection is closed."))
		p.stop(closePolicy, CodeRateLimited)
		return true
	}
	if kind != websocket.TextMessage {
		p.send(errorMessage(CodeBadMessage, "Only text frames holding JSON are accepted."))
		return false
	}
	m, err := DecodeClientMessage(frame)
	if err != nil {
		p.send(errorMessage(CodeBadMessage, err.Error()))
		return false
	}
	switch m.Type {
	case TypeSignal:
		h.relay(p, m.Data)
	case TypeLeave:
		return true
	case TypePing:
		p.send(pongFrame)
	}
	return false
}

// relay sends a signal to the other peer, wherever its connection is.
func (h *Hub) relay(p *Peer, data []byte) {
	other, _ := p.partner()
	if other == "" {
		p.send(errorMessage(CodeNoPeer, "Nobody else is in the room yet; this message was not delivered."))
		return
	}
	// The kind byte, then the frame the other client gets, built in a
	// pooled buffer: the store does not keep it.
	buf := h.getFrame()
	defer h.putFrame(buf)
	buf.Grow(1 + signalSize(data))
	msg := appendSignal(append(buf.AvailableBuffer(), msgFrame), p.seatID, data)
	delivered, err := h.publish(p.room, other, msg)
	switch {
	case err != nil:
		p.log(slog.LevelWarn, "relay failed", "err", err)
		p.send(errorMessage(CodeUnavailable, "The room service is unavailable; this message was not delivered."))
	case !delivered:
		p.send(errorMessage(CodeNoPeer, "The other person is reconnecting; this message was not delivered."))
	}
}
