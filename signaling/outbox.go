package signaling

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"tandem/signaling/wire"
)

// outbox is a connection's outbound side: a bounded queue of frames and the
// writer that drains it. Its methods only enqueue; a writer goroutine does
// the writing, and runs only while there is something to write: it exits
// when the queue is empty, so an idle connection holds one goroutine (its
// reader), not two, and its pings come from a timer rather than a ticker in
// a goroutine of its own.
//
// Invariants, all under mu:
//   - At most one writer runs: writing is set when one is started
//     (wakeLocked) and cleared only by that writer, in next, when it finds
//     nothing to do and exits. Only the writer writes to conn (Close and
//     WriteControl excepted, which the library allows from anywhere).
//   - Frames are written in the order they were queued; a due ping goes
//     before them.
//   - The queue never holds more than QueueSize frames: a frame that would
//     overflow it stops the outbox (1008, "too slow") instead, and ends the
//     reader at once: a slow client is put out, its seat freed and its
//     peer told, rather than allowed to stall its peer or lose a message.
//   - Once stopping, nothing more is queued (enqueue reports false), and
//     writing stays true, so no new writer starts. The running (or last
//     started) writer flushes the queue, sends the close frame, waits up
//     to closeGrace for readerDone, closes conn and then closed, exactly
//     once. A write error stops the outbox and closes conn at once; a
//     write that timed out puts the client out (1008), as an overflow does.
//   - A queued frame with a buf owns it: the writer gives it back to the
//     hub's pool once written; sendCopy gives it back if it was dropped.
//
// Lock order: Peer.mu may be held while taking mu (setOtherLocked); mu is
// taken with no other lock held otherwise, and nothing is locked under it.
type outbox struct {
	// Static after init.
	owner      *Peer // for the hub (config, frame pool) and log records
	conn       Conn
	readerDone chan struct{} // closed by serve when the reader has finished
	closed     chan struct{} // closed by the last writer once conn is closed

	mu        sync.Mutex  // guards everything below
	queue     []outFrame  // frames waiting for the writer
	slots     [2]outFrame // queue's storage while short: no allocation per message
	pingDue   bool        // the ping timer fired: the writer sends a ping
	ping      *time.Timer
	writing   bool // a writer is running; once stopping, it stays true, so no other starts
	stopping  bool // stop was called: flush, send the close frame, close conn
	closeCode int
	closeText string
}

// init readies the outbox of owner, which writes to conn.
func (o *outbox) init(owner *Peer, conn Conn) {
	o.owner, o.conn = owner, conn
	o.readerDone, o.closed = make(chan struct{}), make(chan struct{})
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
func (o *outbox) send(frame []byte) {
	_ = o.enqueue(outFrame{data: frame})
}

// sendCopy queues a copy of frame, which the caller may reuse at once. It
// reports false if the frame was dropped: the client is being put out.
func (o *outbox) sendCopy(frame []byte) bool {
	buf := o.owner.hub.getFrame()
	buf.Write(frame)
	if !o.enqueue(outFrame{data: buf.Bytes(), buf: buf}) {
		o.owner.hub.putFrame(buf)
		return false
	}
	return true
}

func (o *outbox) enqueue(f outFrame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.enqueueLocked(f)
}

// enqueueLocked queues f for the writer, and reports false if it dropped f
// instead: the client is being put out, or is too slow and now will be.
func (o *outbox) enqueueLocked(f outFrame) bool {
	if o.stopping {
		return false
	}
	if len(o.queue) >= o.owner.hub.cfg.QueueSize {
		o.owner.log(slog.LevelWarn, "client too slow, disconnecting")
		o.owner.hub.counters.refuse(RefusedTooSlow, false)
		o.stopLocked(wire.ClosePolicyViolation, "too slow")
		// End the reader now, not when the writer gets through to the
		// client: the peer is told and the seat freed at once (see
		// Hub.readEnded). Deadlines may be set from any goroutine.
		_ = o.conn.SetReadDeadline(time.Now())
		return false
	}
	if o.queue == nil {
		o.queue = o.slots[:0]
	}
	o.queue = append(o.queue, f)
	o.wakeLocked()
	return true
}

// stop asks the writer to flush what is queued, send a close frame with
// code and close the connection. Only the first call counts.
func (o *outbox) stop(code int, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopLocked(code, text)
}

func (o *outbox) stopLocked(code int, text string) {
	if o.stopping {
		return
	}
	o.stopping = true
	o.closeCode, o.closeText = code, text
	if o.ping != nil {
		o.ping.Stop()
	}
	o.wakeLocked()
}

// putOut reports whether the server stopped the outbox to put its client
// out for abuse (too slow, for one): the client is then gone for good,
// not away.
func (o *outbox) putOut() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stopping && o.closeCode == wire.ClosePolicyViolation
}

// startPinging pings the client every interval, through the writer.
func (o *outbox) startPinging(interval time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ping = time.AfterFunc(interval, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.stopping {
			return
		}
		o.pingDue = true
		o.wakeLocked()
		o.ping.Reset(interval)
	})
}

// wakeLocked starts a writer unless one is running.
func (o *outbox) wakeLocked() {
	if !o.writing {
		o.writing = true
		go o.write()
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
func (o *outbox) next() (job, outFrame) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.pingDue:
		o.pingDue = false
		return jobPing, outFrame{}
	case len(o.queue) > 0:
		frame := o.queue[0]
		o.queue[0] = outFrame{}
		o.queue = o.queue[1:]
		if len(o.queue) == 0 {
			// Drop a backing array grown by a burst, and the frames that
			// slots still holds if a burst moved the queue off it.
			o.queue, o.slots = nil, [2]outFrame{}
		}
		return jobFrame, frame
	case o.stopping:
		return jobClose, outFrame{}
	}
	o.writing = false
	return jobIdle, outFrame{}
}

// write is the connection's writer while there is work: it sends queued
// frames and pings. After stop it flushes the queue and sends a close frame,
// then gives the reader a moment to see the client's answering close frame
// before closing the socket (which ends the reader in any case).
func (o *outbox) write() {
	timeout := o.owner.hub.cfg.WriteTimeout
	for {
		j, frame := o.next()
		var err error
		switch j {
		case jobIdle:
			return
		case jobFrame:
			_ = o.conn.SetWriteDeadline(time.Now().Add(timeout))
			err = o.conn.WriteMessage(websocket.TextMessage, frame.data)
			if frame.buf != nil {
				o.owner.hub.putFrame(frame.buf)
			}
		case jobPing:
			err = o.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(timeout))
		case jobClose:
			msg := websocket.FormatCloseMessage(o.closeCode, o.closeText)
			_ = o.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(timeout))
			select {
			case <-o.readerDone:
			case <-time.After(closeGrace):
			}
			o.closeConn()
			return
		}
		if err != nil {
			// Nothing more can be written. A write that timed out is a
			// client that stopped reading: put out, as an overflow is.
			code := wire.CloseGoingAway
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				code = wire.ClosePolicyViolation
				o.owner.hub.counters.refuse(RefusedTooSlow, false)
			}
			o.stop(code, "")
			o.closeConn()
			return
		}
	}
}

func (o *outbox) closeConn() {
	_ = o.conn.Close()
	close(o.closed)
}
