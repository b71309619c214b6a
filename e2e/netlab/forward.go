package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// forwardDialTimeout bounds each connection Forward makes inside the
// namespace.
const forwardDialTimeout = 5 * time.Second

// forwarder is one Forward: a listener in this process's namespace and
// the connections it carries.
type forwarder struct {
	lab    *Lab
	ns     string
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	mu    sync.Mutex // guards conns and done
	conns map[net.Conn]struct{}
	done  bool

	stopOnce sync.Once
}

// Forward listens on 127.0.0.1 in this process's namespace and carries
// every TCP connection it accepts to target (IP literal and port) inside
// namespace ns: a test outside the lab reaches through it, say, a browser's
// DevTools or WebDriver BiDi port, which listens on 127.0.0.1 in the
// browser's namespace. It returns the local address to connect to, and a
// stop function that closes the listener and the connections it carries
// and waits for them; Close calls it too.
func (l *Lab) Forward(ns, target string) (localAddr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("netlab: forward to %s in %s: %w", target, ns, err)
	}
	f := &forwarder{lab: l, ns: ns, target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return "", nil, errors.New("netlab: Forward on a closed lab")
	}
	l.forwards[f] = struct{}{}
	l.mu.Unlock()

	f.wg.Add(1)
	go f.acceptLoop()
	return ln.Addr().String(), f.stop, nil
}

func (f *forwarder) acceptLoop() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.carry(c)
	}
}

// carry connects c to the target and copies both ways until both
// directions are closed.
func (f *forwarder) carry(c net.Conn) {
	defer f.wg.Done()
	defer f.untrack(c)
	ctx, cancel := context.WithTimeout(context.Background(), forwardDialTimeout)
	t, err := f.lab.DialContext(ctx, f.ns, "tcp", f.target)
	cancel()
	if err != nil {
		return // c closes: the client sees the target is not there
	}
	if !f.track(t) {
		t.Close()
		return
	}
	defer f.untrack(t)
	// Each direction ends at EOF or error, or when stop closes both.
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Pass the half-close on, so request-then-EOF protocols work.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
	<-done
}

// track records c for stop; false once stopped.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *forwarder) stop() {
	f.stopOnce.Do(func() {
		f.ln.Close()
		f.mu.Lock()
		f.done = true
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
		f.lab.mu.Lock()
		delete(f.lab.forwards, f)
		f.lab.mu.Unlock()
	})
}
