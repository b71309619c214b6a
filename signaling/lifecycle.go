package signaling

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling/wire"
	"tandem/turn"
)

// A connection's lifecycle: accepted (Start, enter), seated in the store
// (seat), greeted and held here (newPeer, announce), served (session; its
// frames are read.go's), and gone (leave, then serve's cleanup).

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

// closeGrace is how long to wait for the client's answering close frame.
const closeGrace = time.Second

// JoinRequest is what a connection asks for.
type JoinRequest struct {
	Room      string     // normalised room name
	Page      turn.Page  // where the client loaded the page from, for TURN URLs
	ClientIP  netip.Addr // for per-address limits
	SeatToken string     // seat token from an earlier created/joined, or ""
}

// refuse answers a connection that cannot be served with an error and a
// close frame, without seating it.
func (h *Hub) refuse(conn Conn, code string, closeCode int) {
	h.counters.refuse(code, true)
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, errorMessage(code, refusals[code]))
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code), time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.Close()
}

var refusals = map[string]string{
	wire.CodeServerShutdown:     "The server is shutting down. Try again in a moment.",
	wire.CodeServerBusy:         "The server is at capacity. Try again in a moment.",
	wire.CodeTooManyConnections: "Too many connections from your network. Close some tabs and try again.",
	wire.CodeTooManyJoins:       "Too many joins from your network in the last minute. Try again shortly.",
	wire.CodeUnavailable:        "The room service is unavailable right now. Retrying…",
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
		p.stop(wire.CloseNormal, "")
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
	if !h.track() {
		h.refuse(conn, wire.CodeServerShutdown, wire.CloseGoingAway)
		return false
	}
	if code := h.admit.admit(ip); code != "" {
		h.log.Warn("connection refused", "reason", code, "client", h.label(ip.String()))
		h.refuse(conn, code, wire.CloseTryAgainLater)
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
//
// A connection taking its seat back does so holding the room's seats lock
// (see roomHere.seats), from the store's answer until the peer is held;
// answers are sent without it.
func (h *Hub) seat(conn Conn, req JoinRequest) (p *Peer, ok bool) {
	if !h.claimRoom(req.Room) {
		h.log.Warn("too many rooms", "room", h.label(req.Room))
		h.refuse(conn, wire.CodeServerBusy, wire.CloseTryAgainLater)
		return nil, false
	}
	joined := false // the store seated the connection: hold takes the room's claim over
	defer func() {
		if !joined { // refused (after the answer), or a panic
			h.releaseRoom(req.Room)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if !h.storeReady(ctx) {
		h.refuse(conn, wire.CodeUnavailable, wire.CloseTryAgainLater)
		return nil, false
	}
	var res JoinResult
	var joinErr, err error
	take := func() {
		res, joinErr = h.store.Join(ctx, req.Room, req.SeatToken)
		if joinErr != nil {
			return
		}
		joined = true
		p = h.newPeer(conn, req, res)
		err = h.announce(p, res)
	}
	if req.SeatToken != "" { // taking a seat back: not amid its old connection's departure
		h.withSeats(req.Room, take)
	} else {
		take()
	}
	if joinErr != nil {
		h.refuseJoin(conn, req.Room, joinErr)
		return nil, false
	}
	switch {
	case errors.Is(err, ErrHubClosed):
		p.send(errorMessage(wire.CodeServerShutdown, refusals[wire.CodeServerShutdown]))
		p.stop(wire.CloseGoingAway, "server shutdown")
		return p, false
	case err != nil:
		p.log(slog.LevelWarn, "store failed after join", "err", err)
		p.send(errorMessage(wire.CodeUnavailable, refusals[wire.CodeUnavailable]))
		p.stop(wire.CloseTryAgainLater, wire.CodeUnavailable)
		h.counters.refuse(wire.CodeUnavailable, true)
		return p, false
	}
	switch {
	case res.Resumed:
		h.counters.join(JoinResumed)
	case res.OtherID == "":
		h.counters.join(JoinCreated)
	default:
		h.counters.join(JoinJoined)
	}
	p.log(slog.LevelInfo, "joined", "alone", res.OtherID == "", "resumed", res.Resumed)
	return p, true
}

// storeReady reports whether the store can serve a join. While the
// maintenance loop has found it down, it asks again rather than wait for
// the loop to notice the store is back.
func (h *Hub) storeReady(ctx context.Context) bool {
	if h.storeDown.Load() {
		if err := h.store.Ready(ctx); err != nil {
			return false
		}
		h.storeDown.Store(false)
	}
	return true
}

// refuseJoin answers a connection the store did not seat with why (full,
// store unavailable).
func (h *Hub) refuseJoin(conn Conn, room string, err error) {
	switch {
	case errors.Is(err, ErrRoomFull):
		h.log.Info("room full", "room", h.label(room))
		h.refuseFull(conn, room)
	default:
		h.log.Warn("join failed", "room", h.label(room), "err", err)
		h.refuse(conn, wire.CodeUnavailable, wire.CloseTryAgainLater)
	}
}

// newPeer makes the peer of a connection the store seated, starts its
// pings and queues its greeting.
func (h *Hub) newPeer(conn Conn, req JoinRequest, res JoinResult) *Peer {
	p := &Peer{
		hub:     h,
		room:    req.Room,
		peerID:  res.PeerID,
		otherID: res.OtherID,
	}
	p.outbox.init(p, conn)
	p.startPinging(h.cfg.PingInterval)

	hello := wire.ServerMessage{Type: wire.TypeCreated, Room: req.Room, Peer: res.PeerID, Seat: res.SeatToken,
		Resumed: res.Resumed, ICEServers: iceServers(h.cfg.ICEServers(res.PeerID, req.Page))}
	if res.OtherID != "" {
		hello.Type, hello.Peers = wire.TypeJoined, []string{res.OtherID}
	}
	p.send(encode(hello))
	return p
}

// announce registers the seated peer here, so that messages find it, and
// makes sure both people in the room know of each other.
func (h *Hub) announce(p *Peer, res JoinResult) error {
	previous, err := h.hold(p)
	if previous != nil {
		previous.stop(wire.CloseReplaced, "replaced by a newer connection")
	}
	switch {
	case err != nil:
		return err
	case res.OtherID != "" && !res.Resumed:
		_, err = h.publish(p.room, res.OtherID, control(msgPeerJoined, res.PeerID))
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
	states, err := h.store.Maintain(ctx, []SeatRef{{Room: p.room, PeerID: p.peerID}})
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
	h.counters.join(JoinFull)
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, encode(wire.ServerMessage{Type: wire.TypeFull, Room: room}))
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wire.CloseNormal, "room full"), time.Now().Add(h.cfg.WriteTimeout))
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
	closing := h.isClosed()
	h.withSeats(p.room, func() { h.depart(p, goodbye, closing) })
}

// depart tells the store p is leaving, unless a newer connection took its
// seat. The caller holds the room's seats lock.
func (h *Hub) depart(p *Peer, goodbye, closing bool) {
	if !h.holds(p) {
		p.log(slog.LevelInfo, "left: replaced")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	if !goodbye || closing {
		if err := h.store.Away(ctx, p.room, p.peerID, h.cfg.SeatGrace); err != nil {
			p.log(slog.LevelWarn, "could not mark seat away; it will expire", "err", err)
		}
		p.log(slog.LevelInfo, "left: away")
		return
	}
	other, err := h.store.Leave(ctx, p.room, p.peerID)
	if err != nil {
		p.log(slog.LevelWarn, "could not free seat; it will expire", "err", err)
		return
	}
	if other != "" {
		if _, err := h.publish(p.room, other, control(msgPeerLeft, p.peerID)); err != nil {
			p.log(slog.LevelWarn, "could not tell the other peer; its maintenance will", "err", err)
		}
	}
	p.log(slog.LevelInfo, "left")
}
