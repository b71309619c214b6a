package signaling

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling/wire"
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

// closeGrace is how long to wait for the client's answering close frame.
const closeGrace = time.Second

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
	msg := wire.ServerMessage{Type: wire.TypePeerJoined, Peer: id}
	if id == "" {
		msg = wire.ServerMessage{Type: wire.TypePeerLeft, Peer: p.otherID}
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
		p.stopLocked(wire.ClosePolicyViolation, "too slow")
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
			p.stop(wire.CloseGoingAway, "")
			p.closeConn()
			return
		}
	}
}

func (p *Peer) closeConn() {
	_ = p.conn.Close()
	close(p.closed)
}
