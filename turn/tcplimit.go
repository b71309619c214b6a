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

// tcpLimits bounds the TURN-over-TCP connections open at once: at most
// perIP from one address and total in all (0: no limit), over every stream
// listener (TCP, TLS, the web port). pion/turn serves every accepted
// connection on a goroutine of its own and reads it with no deadline, so
// without this anyone could hold idle connections, and the file
// descriptors the web server shares, without end.
type tcpLimits struct {
	// Static after construction.
	perIP, total int

	mu   sync.Mutex
	byIP map[netip.Addr]int // guarded by mu
	n    int                // guarded by mu
}

func newTCPLimits(perIP, total int) *tcpLimits {
	return &tcpLimits{perIP: perIP, total: total, byIP: map[netip.Addr]int{}}
}

func (l *tcpLimits) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.total > 0 && l.n >= l.total) || (l.perIP > 0 && l.byIP[ip] >= l.perIP) {
		return false
	}
	l.n++
	l.byIP[ip]++
	return true
}

func (l *tcpLimits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// tcpListener admits TURN stream connections within its limits, each
// closed if it stays silent too long.
type tcpListener struct {
	net.Listener
	// Static after construction.
	limits       *tcpLimits
	firstRequest time.Duration
	idle         time.Duration
	guard        *bindGuard
	log          *slog.Logger
}

func newTCPListener(l net.Listener, limits *tcpLimits, guard *bindGuard, log *slog.Logger) *tcpListener {
	return &tcpListener{Listener: l, limits: limits, firstRequest: tcpFirstRequest, idle: tcpIdle, guard: guard, log: log}
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
		if !l.limits.admit(ip) {
			l.log.Debug("TURN TCP connection refused: over the limit", "client", ip.String())
			_ = c.Close()
			continue
		}
		return &tcpConn{Conn: c, l: l, ip: ip}, nil
	}
}

// tcpConn is an admitted connection: it frees its place when closed, its
// reads time out, and the ChannelBind requests the listener's guard
// refuses are answered here and never reach pion.
type tcpConn struct {
	net.Conn
	l  *tcpListener
	ip netip.Addr

	// Owned by the reader (pion's goroutine for the connection).
	spoke  bool
	frames tcpFrames

	closeOnce sync.Once
}

func (c *tcpConn) Read(p []byte) (int, error) {
	if c.l.guard == nil {
		return c.read(p)
	}
	return c.frames.readFiltered(p, c.Conn, c.l.guard, c.read)
}

// read waits for a new connection's first bytes for firstRequest, and for
// any later ones for idle.
func (c *tcpConn) read(p []byte) (int, error) {
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

// Close closes the connection and frees its place. It reports no error:
// closing a stream fails only when the client has already gone (over TLS,
// the close_notify alert cannot be sent), which is routine, and pion would
// log each one as a warning.
func (c *tcpConn) Close() error {
	c.closeOnce.Do(func() { c.l.limits.release(c.ip) })
	_ = c.Conn.Close()
	return nil
}
