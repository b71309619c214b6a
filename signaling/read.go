package signaling

import (
	"errors"
	"log/slog"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"tandem/signaling/wire"
)

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
		if leave || p.putOut() { // put out while its frame was handled
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
		h.counters.refuse(RefusedMessageTooBig, false)
		p.log(slog.LevelWarn, "frame too large")
		return true
	case websocket.IsCloseError(err, wire.CloseNormal, wire.CloseGoingAway):
		return true
	case p.putOut():
		// The writer put the client out (too slow); reading then failed.
		// Its seat is freed at once, as protocol.md says.
		return true
	}
	return false
}

// handle acts on one frame from the client. It reports whether the client
// is leaving or has been put out.
func (h *Hub) handle(p *Peer, limiter *rate.Limiter, kind int, frame []byte) (leave bool) {
	h.counters.messages.Add(1)
	_ = p.conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout))
	if h.cfg.MessageBurst > 0 && !limiter.Allow() {
		p.log(slog.LevelWarn, "message rate exceeded")
		h.counters.refuse(wire.CodeRateLimited, false)
		p.send(errorMessage(wire.CodeRateLimited, "Too many messages. The connection is closed."))
		p.stop(wire.ClosePolicyViolation, wire.CodeRateLimited)
		return true
	}
	if kind != websocket.TextMessage {
		p.send(errorMessage(wire.CodeBadMessage, "Only text frames holding JSON are accepted."))
		return false
	}
	m, err := wire.DecodeClientMessage(frame)
	if err != nil {
		p.send(errorMessage(wire.CodeBadMessage, err.Error()))
		return false
	}
	switch m.Type {
	case wire.TypeSignal:
		h.relay(p, m.Data)
	case wire.TypeLeave:
		return true
	case wire.TypePing:
		p.send(pongFrame)
	case wire.TypeReport:
		h.report(p, m.Data)
	}
	return false
}

// relay sends a signal to the other peer, wherever its connection is.
func (h *Hub) relay(p *Peer, data []byte) {
	other, _ := p.partner()
	if other == "" {
		p.send(errorMessage(wire.CodeNoPeer, "Nobody else is in the room yet; this message was not delivered."))
		return
	}
	// The kind byte, then the frame the other client gets, built in a
	// pooled buffer: the store does not keep it.
	buf := h.getFrame()
	defer h.putFrame(buf)
	buf.Grow(1 + signalSize(data))
	msg := wire.AppendSignal(append(buf.AvailableBuffer(), msgFrame), p.peerID, data)
	delivered, err := h.publish(p.room, other, msg)
	switch {
	case err != nil:
		p.log(slog.LevelWarn, "relay failed", "err", err)
		p.send(errorMessage(wire.CodeUnavailable, "The room service is unavailable; this message was not delivered."))
	case !delivered:
		p.send(errorMessage(wire.CodeNoPeer, "The other person is reconnecting; this message was not delivered."))
	}
}
