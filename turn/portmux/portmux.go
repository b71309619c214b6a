// Package portmux shares one TCP port between the web application and
// TURN, so that a network which lets only the web port through (a hotel or
// corporate network that passes nothing but HTTPS) can still reach the
// relay.
//
// Every accepted connection is classified before it is handed on:
//
//   - With TLS, the handshake is done here. An ALPN of h2 or http/1.1 goes
//     to the web listener at once; stun.turn or no ALPN at all (browsers
//     send none on turns: URLs) is decided by the first decrypted bytes.
//     acme-tls/1 is an ACME CA's TLS-ALPN-01 check (RFC 8737), which the
//     handshake itself answers (the certificate comes from
//     tls.Config.GetCertificate): the connection is closed after it.
//   - Without TLS, the first bytes decide: a STUN message or ChannelData
//     goes to TURN, anything else (an HTTP request, or garbage the web
//     server answers with 400) to the web listener.
//
// The bytes read to decide are given back to whoever reads the connection
// next. The handshake and the first bytes must arrive within
// Config.FirstBytesTimeout, and one address may have at most
// Config.MaxPendingPerIP connections being classified at once, so a client
// that connects and says nothing holds little, and not for long.
package portmux

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultFirstBytesTimeout = 10 * time.Second
	DefaultMaxPendingPerIP   = 500
)

// Config configures a Mux. The zero value serves plain TCP with defaults.
type Config struct {
	// TLS, when set, terminates TLS on every connection. Its NextProtos
	// should list "http/1.1" and "stun.turn", and "acme-tls/1" when its
	// certificates come from ACME.
	TLS *tls.Config
	// FirstBytesTimeout bounds the TLS handshake and the wait for the
	// bytes that classify a connection. Default DefaultFirstBytesTimeout.
	FirstBytesTimeout time.Duration
	// MaxPendingPerIP bounds the connections from one address that are
	// still being classified; more are closed at once. Default
	// DefaultMaxPendingPerIP; negative means no limit.
	MaxPendingPerIP int
	// Logger receives debug lines about refused and unclassifiable
	// connections. Default: discard.
	Logger *slog.Logger
}

// Mux accepts connections on one listener and hands each to its web or
// its TURN listener.
type Mux struct {
	// Static after construction.
	ln        net.Listener
	cfg       Config
	web, turn *listener

	mu      sync.Mutex
	pending map[netip.Addr]int // guarded by mu: connections being classified
	open    int                // guarded by mu: sub-listeners not yet closed
}

// New starts classifying the connections ln accepts. Close the Mux, or both
// of its listeners, to close ln.
func New(ln net.Listener, cfg Config) *Mux {
	if cfg.FirstBytesTimeout <= 0 {
		cfg.FirstBytesTimeout = DefaultFirstBytesTimeout
	}
	if cfg.MaxPendingPerIP == 0 {
		cfg.MaxPendingPerIP = DefaultMaxPendingPerIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{ln: ln, cfg: cfg, pending: map[netip.Addr]int{}, open: 2}
	m.web = newListener(ln.Addr(), m.closeOne)
	m.turn = newListener(ln.Addr(), m.closeOne)
	go m.serve()
	return m
}

// Web is the listener of the connections that carry HTTP.
func (m *Mux) Web() net.Listener { return m.web }

// TURN is the listener of the connections that carry TURN (over TCP, or
// over TLS with the TLS already removed).
func (m *Mux) TURN() net.Listener { return m.turn }

// Addr is the shared listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Close closes the shared listener and both sub-listeners. Connections
// already handed on are their owners' to close.
func (m *Mux) Close() error {
	m.web.Close()
	m.turn.Close()
	return nil
}

// closeOne is called once by each sub-listener's Close; the shared
// listener closes with the last of them.
func (m *Mux) closeOne() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open--; m.open == 0 {
		_ = m.ln.Close()
	}
}

func (m *Mux) serve() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.web.fail(err)
			m.turn.fail(err)
			return
		}
		ip := remoteIP(c)
		if !m.admit(ip) {
			m.cfg.Logger.Debug("connection refused: too many unclassified from this address", "client", ip.String())
			_ = c.Close()
			continue
		}
		go func() {
			defer m.release(ip)
			m.classify(c)
		}()
	}
}

func (m *Mux) admit(ip netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.MaxPendingPerIP > 0 && m.pending[ip] >= m.cfg.MaxPendingPerIP {
		return false
	}
	m.pending[ip]++
	return true
}

func (m *Mux) release(ip netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[ip]--; m.pending[ip] <= 0 {
		delete(m.pending, ip)
	}
}

// peekSize is how many bytes classify reads: enough for a STUN header's
// magic cookie and for an HTTP method with its space.
const peekSize = 8

// classify decides where c goes and hands it there, or closes it.
func (m *Mux) classify(c net.Conn) {
	log := m.cfg.Logger
	_ = c.SetDeadline(time.Now().Add(m.cfg.FirstBytesTimeout))
	var conn net.Conn = c
	var tc *tls.Conn
	if m.cfg.TLS != nil {
		tc = tls.Server(c, m.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			log.Debug("TLS handshake failed", "client", c.RemoteAddr().String(), "err", err)
			_ = c.Close()
			return
		}
		switch alpn := tc.ConnectionState().NegotiatedProtocol; {
		case isWebProtocol(alpn):
			_ = c.SetDeadline(time.Time{})
			m.web.deliver(tc)
			return
		case alpn == ACMETLSProtocol:
			log.Info("answered an ACME TLS-ALPN-01 challenge", "client", c.RemoteAddr().String(),
				"name", tc.ConnectionState().ServerName)
			_ = tc.Close()
			return
		}
		conn = tc
	}
	first := make([]byte, peekSize)
	if _, err := io.ReadFull(conn, first); err != nil {
		log.Debug("connection closed before its first bytes", "client", c.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var handed net.Conn = &prefixConn{Conn: conn, prefix: first}
	if tc != nil {
		handed = &tlsPrefixConn{Conn: tc, prefix: first}
	}
	if Classify(first) == TURN {
		m.turn.deliver(handed)
		return
	}
	m.web.deliver(handed)
}

// ACMETLSProtocol is the ALPN of ACME's TLS-ALPN-01 challenge (RFC 8737).
const ACMETLSProtocol = "acme-tls/1"

// isWebProtocol reports whether an ALPN protocol is one of HTTP's.
func isWebProtocol(alpn string) bool { return alpn == "h2" || alpn == "http/1.1" }

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
