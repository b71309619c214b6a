package turn

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Deadlines of a TURN-over-TCP connection: a client sends its first
// request (Allocate) as soon as it connects, and a live one refreshes its
// allocation at least every 9 minutes (its lifetime, 10 minutes, less one).
const (
	tcpFirstRequest = 10 * time.Second
	tcpIdle         = 15 * time.Minute
)

// tcpListener admits TURN-over-TCP connections: at most perIP at once from
// one address and total in all (0: no limit), each closed if it stays
// silent too long. pion/turn serves every accepted connection on a
// goroutine of its own and reads it with no deadline, so without this
// anyone could hold idle connections, and the file descriptors the web
// server shares, without end.
type tcpListener struct {
	net.Listener
	// Static after construction.
	perIP, total int
	firstRequest time.Duration
	idle         time.Duration
	log          *slog.Logger

	mu   sync.Mutex
	byIP map[netip.Addr]int // guarded by mu
	n    int                // guarded by mu
}

func newTCPListener(l net.Listener, perIP, total int, log *slog.Logger) *tcpListener {
	return &tcpListener{Listener: l, perIP: perIP, total: total, firstRequest: tcpFirstRequest, idle: tcpIdle,
		log: log, byIP: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limits, and closes the
// ones over them.
func (l *tcpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrOf(c.RemoteAddr())
		if !l.admit(ip) {
			l.log.Debug("TURN TCP connection refused: over the limit", "client", ip.String())
			_ = c.Close()
			continue
		}
		return &tcpConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *tcpListener) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.total > 0 && l.n >= l.total) || (l.perIP > 0 && l.byIP[ip] >= l.perIP) {
		return false
	}
	l.n++
	l.byIP[ip]++
	return true
}

func (l *tcpListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// tcpConn is an admitted connection: it frees its place when closed, and
// its reads time out.
type tcpConn struct {
	net.Conn
	l  *tcpListener
	ip netip.Addr

	spoke     bool // owned by the reader (pion's goroutine for the connection)
	closeOnce sync.Once
}

// Read waits for a new connection's first bytes for firstRequest, and for
// any later ones for idle.
func (c *tcpConn) Read(p []byte) (int, error) {
	wait := c.l.idle
	if !c.spoke {
		wait = c.l.firstRequest
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.spoke = true
	}
	return n, err
}

func (c *tcpConn) Close() error {
	c.closeOnce.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}
