package turn

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// readBatch is how many datagrams one recvmmsg takes from a socket.
	readBatch = 32
	// loopBuffers is how many buffers a loop reads into before it must
	// send the frames waiting in them.
	loopBuffers = 256
	// maxEvents is how many ready sockets one epoll_wait returns.
	maxEvents = 128
)

// dataPlane is one loop per TURN listener socket. A relay socket joins the
// loops in turn; the frames a loop sends to clients leave from its own
// listener socket (all share the TURN port).
type dataPlane struct {
	loops []*pollLoop
	next  atomic.Uint32
}

// newDataPlane starts a loop per listener socket.
func newDataPlane(listeners []*udpSocket) (*dataPlane, error) {
	d := &dataPlane{}
	for _, l := range listeners {
		loop, err := newPollLoop(l)
		if err != nil {
			d.close()
			return nil, err
		}
		d.loops = append(d.loops, loop)
		go loop.run()
	}
	return d, nil
}

// watch makes the loop of a listener socket, or the next loop for a relay
// socket, read s.
func (d *dataPlane) watch(s *udpSocket, h datagramHandler) error {
	for _, loop := range d.loops {
		if loop.listener == s {
			return loop.add(s, h)
		}
	}
	i := d.next.Add(1) % uint32(len(d.loops))
	return d.loops[i].add(s, h)
}

// close stops the loops; the sockets are their owners' to close.
func (d *dataPlane) close() {
	for _, loop := range d.loops {
		loop.stop()
	}
}

// pollLoop has an epoll instance of its own for its sockets,
// level-triggered, reads each ready one with recvmmsg, and sends the
// frames for clients together with sendmmsg. The goroutine waits in Go's
// poller for the epoll instance to be readable, never in epoll_wait: a
// thread blocked in a system call keeps the runtime's monitor thread
// waking every 20 µs to take its processor back.
type pollLoop struct {
	// Static after construction.
	epfd     int
	epoll    *os.File // epfd in Go's poller
	listener *udpSocket
	done     chan struct{} // closed when run returns

	mu      sync.RWMutex // guards sockets and stopped
	sockets map[int32]watched
	stopped bool        // epfd is closed, and its number may be another file's
	halt    atomic.Bool // set by stop: a round in progress ends there

	// Owned by the loop's goroutine.
	bufs   [][]byte
	used   int // bufs[:used] hold datagrams read this round
	reads  batch
	sends  batch
	queued int // frames in sends
}

type watched struct {
	sock    *udpSocket
	handler datagramHandler
}

// batch is the arguments of one recvmmsg or sendmmsg.
type batch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // big enough for either family
}

func newBatch(n int) batch {
	return batch{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrInet6, n)}
}

func newPollLoop(listener *udpSocket) (*pollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("turn: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil { // so that os.NewFile puts it in the poller
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("turn: epoll: %w", err)
	}
	l := &pollLoop{epfd: epfd, epoll: os.NewFile(uintptr(epfd), "epoll"), listener: listener, done: make(chan struct{}),
		sockets: map[int32]watched{}, reads: newBatch(readBatch), sends: newBatch(loopBuffers)}
	l.bufs = make([][]byte, loopBuffers)
	for i := range l.bufs {
		l.bufs[i] = make([]byte, datagramBuffer)
	}
	return l, nil
}

// add starts reading s. Its close stops that (udpSocket.close).
//
// Lock order: a socket's mu, then a loop's mu (add, and close through
// forget). A round holds no socket's mu while it takes the loop's.
func (l *pollLoop) add(s *udpSocket, h datagramHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.fd < 0 || l.stopped {
		return net.ErrClosed
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, s.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.fd)}); err != nil {
		return fmt.Errorf("turn: epoll add: %w", err)
	}
	l.sockets[int32(s.fd)] = watched{sock: s, handler: h}
	s.loop = l
	return nil
}

// forget drops fd from the loop. The socket calls it before it closes
// fd, so that a socket that reuses the number is never mistaken for it.
func (l *pollLoop) forget(fd int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sockets, int32(fd))
	if !l.stopped {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// stop ends run, and closes the epoll instance once it has.
func (l *pollLoop) stop() {
	l.mu.Lock()
	stopped := l.stopped
	l.stopped = true
	l.mu.Unlock()
	if stopped {
		return
	}
	l.halt.Store(true)
	_ = l.epoll.Close() // the loop may be in a round, which takes mu: not held here
	<-l.done
}

func (l *pollLoop) run() {
	defer close(l.done)
	raw, err := l.epoll.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, maxEvents)
	ready := make([]watched, 0, maxEvents)
	// Read returns when stop closes the file.
	_ = raw.Read(func(uintptr) bool {
		for !l.halt.Load() && l.round(events, ready) {
		}
		return false // all drained: wait in the poller
	})
}

// round handles the sockets that are ready now, and reports whether some
// may still hold datagrams: more sockets were ready than events holds, or
// a read filled its batch or failed. Otherwise every socket was drained,
// and the next datagram wakes the poller.
func (l *pollLoop) round(events []unix.EpollEvent, ready []watched) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno == unix.EINTR {
		return true
	}
	if errno != 0 || n == 0 {
		return false
	}
	ready = ready[:0]
	l.mu.RLock()
	for _, ev := range events[:n] {
		if w, ok := l.sockets[ev.Fd]; ok {
			ready = append(ready, w)
		}
	}
	l.mu.RUnlock()
	more := int(n) == len(events)
	for _, w := range ready {
		if l.read(w) {
			more = true
		}
	}
	l.flush()
	return more
}

// read reads what w's socket holds, up to a batch, and hands it on. It
// reports whether the socket may hold more.
func (l *pollLoop) read(w watched) bool {
	if l.used+readBatch > len(l.bufs) {
		l.flush()
	}
	b := &l.reads
	for i := range b.hdrs {
		buf := l.bufs[l.used+i]
		b.iovs[i].Base = &buf[headroom]
		b.iovs[i].SetLen(len(buf) - headroom)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.hdrs[i].Len = 0
	}
	n, more := w.sock.recvmmsg(b.hdrs)
	for i := range n {
		buf := l.bufs[l.used+i]
		from, ok := sockaddrAddrPort(&b.names[i])
		if !ok {
			continue
		}
		frame, to := w.handler.received(buf, int(b.hdrs[i].Len), from)
		if frame != nil {
			l.queue(frame, to)
		}
	}
	l.used += n
	return more
}

// queue adds a frame for a client to the next sendmmsg.
func (l *pollLoop) queue(frame []byte, to netip.AddrPort) {
	b, i := &l.sends, l.queued
	salen := putSockaddr(&b.names[i], mapped(to, l.listener.v6))
	b.iovs[i].Base = &frame[0]
	b.iovs[i].SetLen(len(frame))
	b.hdrs[i].Hdr.Iov = &b.iovs[i]
	b.hdrs[i].Hdr.SetIovlen(1)
	b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	b.hdrs[i].Hdr.Namelen = salen
	l.queued++
}

// flush sends the queued frames, and frees the buffers for reading.
func (l *pollLoop) flush() {
	if l.queued > 0 {
		l.listener.sendmmsg(l.sends.hdrs[:l.queued])
	}
	l.queued, l.used = 0, 0
}
