package harness

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CutProxy forwards TCP connections to a target and can cut them all at
// once, the way a network failure does: a reset, no WebSocket close frame.
// Its fields below mu are guarded by mu; the rest are safe to use at once.
type CutProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	refuse   atomic.Bool // reset new connections at once: the network is down
	holed    atomic.Bool // drop every byte, close nothing: a black hole
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // both ends of each pair
}

// StartProxy forwards a loopback port to target until t ends.
func StartProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Target is where the proxy forwards to.
func (p *CutProxy) Target() string { return p.target }

// URL is the proxy's http:// address.
func (p *CutProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops accepting: pages behind the proxy cannot reconnect.
func (p *CutProxy) Close() { p.ln.Close() }

// Refuse makes the proxy reset new connections at once (a network that is
// down), or accept them again.
func (p *CutProxy) Refuse(down bool) { p.refuse.Store(down) }

// BlackHole makes the proxy drop every byte from now on, both ways, and
// close nothing, as a network that silently loses every packet does: no
// reset, no FIN; new connections are accepted and hear nothing.
func (p *CutProxy) BlackHole() { p.holed.Store(true) }

// Accepted is how many connections the proxy has accepted in all.
func (p *CutProxy) Accepted() int64 { return p.accepted.Load() }

// WaitAccepted waits until the proxy has accepted more than n connections.
func (p *CutProxy) WaitAccepted(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(PageTimeout)
	for p.accepted.Load() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy accepted %d connections in all, want more than %d", p.accepted.Load(), n)
		}
		time.Sleep(pollInterval)
	}
}

// Cut resets every live connection and returns how many pairs it cut.
func (p *CutProxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}

func (p *CutProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.refuse.Load() {
			reset(client)
			continue
		}
		if p.holed.Load() {
			p.track(client)
			p.wg.Add(1)
			go p.pipe(io.Discard, client)
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client, server)
		p.wg.Add(2)
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

func (p *CutProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
}

// pipe copies src to dst until either ends, dropping what it reads once
// the proxy is a black hole.
func (p *CutProxy) pipe(dst io.Writer, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.holed.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, src)
	if c, ok := dst.(net.Conn); ok {
		c.Close()
		delete(p.conns, c)
	}
}

// reset closes c with a TCP reset, as a dead network does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
