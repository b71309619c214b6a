package turn

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// Endpoints are the server's STUN and TURN URLs as a page loaded from Page
// reaches them, one for each way in; "" where there is none.
type Endpoints struct {
	// STUN is the TURN port's STUN service.
	STUN string
	// SecondSTUN is a second STUN port, on the relay address (where
	// relays are reached, so it is open wherever they are): a NAT that maps
	// one socket to two public ports for these two is symmetric.
	SecondSTUN string
	// UDP and TCP are TURN on the TURN port.
	UDP, TCP string
	// Web is TURN on the web port, turns: when the page came over HTTPS;
	// "" when it came through a reverse proxy.
	Web string
	// TLS is TURN over TLS on a port of TURN's own (-turn-tls-addr).
	TLS string
}

// Endpoints returns the server's URLs as seen from page. The TURN port is
// named by the configured host, else the page's; the web port by the
// page's host, which its certificate is for; the TLS port by the
// configured host name, else the page's.
func (s *Server) Endpoints(page Page) Endpoints {
	host := cmp.Or(s.cfg.Host, page.Host)
	hostPort := net.JoinHostPort(host, strconv.Itoa(s.port))
	e := Endpoints{
		STUN:       "stun:" + hostPort,
		SecondSTUN: "stun:" + netip.AddrPortFrom(s.cfg.RelayIP, uint16(s.echo.port)).String(),
		UDP:        "turn:" + hostPort + "?transport=udp",
		TCP:        "turn:" + hostPort + "?transport=tcp",
	}
	if s.cfg.WebListener != nil && page.Port != 0 && page.Host != "" {
		scheme := "turn:"
		if page.TLS {
			scheme = "turns:"
		}
		e.Web = scheme + net.JoinHostPort(page.Host, strconv.Itoa(page.Port)) + "?transport=tcp"
	}
	if tlsHost := cmp.Or(s.tlsHost, page.Host); s.tlsPort != 0 && tlsHost != "" {
		e.TLS = "turns:" + net.JoinHostPort(tlsHost, strconv.Itoa(s.tlsPort)) + "?transport=tcp"
	}
	return e
}

// Credentials mints a TURN username and password bound to user (a peer
// id), valid for the configured lifetime.
func (s *Server) Credentials(user string) (username, password string, err error) {
	username, password, err = turn.GenerateLongTermTURNRESTCredentials(s.cfg.Secret, user, s.cfg.CredentialTTL)
	if err != nil {
		return "", "", fmt.Errorf("turn: mint credentials: %w", err)
	}
	return username, password, nil
}

// ICEServers returns the STUN and TURN entries for one peer, with fresh
// credentials bound to peerID, in the order browsers should try them:
// TURN over UDP, over TCP, then over the web port and the TLS port, which
// get through networks that pass nothing else.
func (s *Server) ICEServers(peerID string, page Page) []ICEServer {
	e := s.Endpoints(page)
	username, password, err := s.Credentials(peerID)
	if err != nil {
		s.log.Error("no TURN for a peer", "err", err)
		return []ICEServer{{URLs: []string{e.STUN}}}
	}
	stuns := []string{e.STUN}
	turns := []string{e.UDP, e.TCP}
	for _, u := range []string{e.Web, e.TLS} {
		if u != "" {
			turns = append(turns, u)
		}
	}
	for _, u := range s.cfg.ExtraURLs {
		if strings.HasPrefix(u, "stun:") || strings.HasPrefix(u, "stuns:") {
			stuns = append(stuns, u)
		} else {
			turns = append(turns, u)
		}
	}
	return []ICEServer{
		{URLs: stuns},
		{URLs: turns, Username: username, Credential: password},
	}
}

// InternalURL is a TURN URL over UDP by which this process reaches its own
// server, for a peer of its own (the diagnosis page's echo peer).
func (s *Server) InternalURL() string { return s.internal }

// internalURL names the UDP listener: its own address, or loopback when
// it listens on every address.
func internalURL(u *net.UDPConn) string {
	a := u.LocalAddr().(*net.UDPAddr)
	ip := a.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "turn:" + net.JoinHostPort(ip.String(), strconv.Itoa(a.Port)) + "?transport=udp"
}

// Bindings returns those of ports from which the TURN port (turnPorts)
// and the second STUN port (secondPorts) answered a Binding request in
// the last minute.
func (s *Server) Bindings(ports []uint16) (turnPorts, secondPorts []uint16) {
	since := time.Now().Add(-bindingWindow)
	return s.bindings.seen(ports, since), s.echo.seen.seen(ports, since)
}
