package portmux

import (
	"net"
	"sync"
)

// listener is one side of a Mux: the connections classified for it.
type listener struct {
	// Static after construction.
	addr    net.Addr
	conns   chan net.Conn
	closed  chan struct{} // closed by Close
	onClose func()        // tells the Mux, once

	closeOnce sync.Once
	failOnce  sync.Once
	failed    chan struct{} // closed when the shared listener failed
	err       error         // written once, before failed is closed
}

func newListener(addr net.Addr, onClose func()) *listener {
	return &listener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{}),
		failed: make(chan struct{}), onClose: onClose}
}

// Accept waits for the next connection classified for this listener.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.failed:
		return nil, l.err
	}
}

// Close stops this listener; connections classified for it from now on
// are closed.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.onClose()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

// deliver hands c to Accept, or closes it when nobody will accept it.
func (l *listener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		_ = c.Close()
	case <-l.failed:
		_ = c.Close()
	}
}

// fail makes Accept return err: the shared listener is gone.
func (l *listener) fail(err error) {
	l.failOnce.Do(func() {
		l.err = err
		close(l.failed)
	})
}
