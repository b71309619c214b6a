package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// errRestore means a thread could not go back to its own namespace; that
// thread must never run Go code again.
var errRestore = errors.New("netlab: cannot return to the original network namespace")

// Do runs fn on an OS thread that has entered namespace ns, then brings the
// thread back. Sockets fn creates stay in ns for good, whichever thread
// later uses them; goroutines fn starts do not run in ns. fn must not
// resolve host names (a resolver may open its sockets elsewhere): use IP
// literals.
func (l *Lab) Do(ns string, fn func() error) error {
	if ns == "" || ns != filepath.Base(ns) || ns == "." || ns == ".." {
		return fmt.Errorf("netlab: bad namespace name %q", ns)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := inNamespace(ns, fn)
		if !errors.Is(err, errRestore) {
			runtime.UnlockOSThread()
		}
		// Otherwise the goroutine ends still locked, and Go ends the thread
		// with it rather than run other code in the wrong namespace.
		errc <- err
	}()
	return <-errc
}

// inNamespace runs fn in ns on the current, locked thread.
func inNamespace(ns string, fn func() error) (err error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("netlab: current namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("netlab: namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netlab: enter namespace %s: %w", ns, err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%w (from %s): %w", errRestore, ns, rerr))
		}
	}()
	return fn()
}

// DialContext connects to addr, an IP literal and port, from inside
// namespace ns.
func (l *Lab) DialContext(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.Do(ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: dial %s %s in %s: %w", network, addr, ns, err)
	}
	return c, nil
}

// Listen listens on addr inside namespace ns; connections it accepts are
// in ns too.
func (l *Lab) Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(ns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: listen %s %s in %s: %w", network, addr, ns, err)
	}
	return ln, nil
}

// ListenPacket opens a packet socket (udp4, say) on addr inside namespace
// ns.
func (l *Lab) ListenPacket(ns, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := l.Do(ns, func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: listen %s %s in %s: %w", network, addr, ns, err)
	}
	return pc, nil
}
