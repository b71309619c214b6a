// Package diag serves the diagnosis page's socket: it hands the page the
// ICE servers of each network check and answers its test connections with
// an echo peer of its own, relayed by the bundled TURN server, so that a
// person whose call fails can see, from their own browser and network,
// what gets through.
package diag

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/webrtc/v4"

	"tandem/signaling/wire"
	"tandem/turn"
)

// Relay is what the checks need of the TURN server; *turn.Server is one.
type Relay interface {
	Endpoints(page turn.Page) turn.Endpoints
	Credentials(user string) (username, password string, err error)
	InternalURL() string
	Bindings(ports []uint16) (turnPorts, secondPorts []uint16)
}

// Conn is a diagnosis page's WebSocket; *websocket.Conn is one.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadLimit(limit int64)
	Close() error
}

// Limits bound what diagnosis costs the server. The zero value of a field
// takes its default.
type Limits struct {
	// MaxSessions is how many pages may test at once; each holds at most
	// three echo peers and their relay allocations. Default 16.
	MaxSessions int
	// MaxSessionsPerIP is how many of them one client address may hold.
	// Default 2.
	MaxSessionsPerIP int
	// SessionLifetime closes a session, and its echo peers, this long
	// after it opened. Default 60 s.
	SessionLifetime time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxSessions <= 0 {
		l.MaxSessions = 16
	}
	if l.MaxSessionsPerIP <= 0 {
		l.MaxSessionsPerIP = 2
	}
	if l.SessionLifetime <= 0 {
		l.SessionLifetime = time.Minute
	}
	return l
}

// maxMessages bounds a session's client messages: an offer per TURN check
// and one STUN question, with room for a page that retries once.
const maxMessages = 8

// writeTimeout bounds each write to a page.
const writeTimeout = 10 * time.Second

// Service runs diagnosis sessions.
type Service struct {
	// Static after construction.
	relay  Relay
	log    *slog.Logger
	api    *webrtc.API
	limits Limits

	mu       sync.Mutex // guards sessions and perIP
	sessions int
	perIP    map[netip.Addr]int
}

// New returns a Service whose echo peers relay through relay.
func New(relay Relay, limits Limits, logger *slog.Logger) *Service {
	return &Service{relay: relay, log: logger.With("component", "diag"), api: newEchoAPI(),
		limits: limits.withDefaults(), perIP: map[netip.Addr]int{}}
}

// admit takes a session slot for client, if one is free.
func (s *Service) admit(client netip.Addr) (code string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[client] >= s.limits.MaxSessionsPerIP {
		return wire.CodeTooManyConnections, false
	}
	if s.sessions >= s.limits.MaxSessions {
		return wire.CodeServerBusy, false
	}
	s.sessions++
	s.perIP[client]++
	return "", true
}

func (s *Service) release(client netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions--
	if s.perIP[client]--; s.perIP[client] <= 0 {
		delete(s.perIP, client)
	}
}

// Serve runs one page's session on conn until the page closes it, breaks
// a rule, or the session's lifetime ends; then it closes conn and the
// session's echo peers. page is where the page was loaded from, which
// names the servers' URLs.
func (s *Service) Serve(conn Conn, client netip.Addr, page turn.Page) {
	ses := &session{svc: s, conn: conn}
	defer ses.close()
	if code, ok := s.admit(client); !ok {
		ses.refuse(code, wire.CloseTryAgainLater)
		return
	}
	defer s.release(client)
	conn.SetReadLimit(wire.MaxDiagFrame)
	_ = conn.SetReadDeadline(time.Now().Add(s.limits.SessionLifetime))

	checks, err := s.checks(page)
	if err != nil {
		s.log.Error("diagnosis without TURN credentials", "err", err)
		ses.refuse(wire.CodeUnavailable, wire.CloseTryAgainLater)
		return
	}
	if ses.send(wire.DiagMessage{Type: wire.TypeDiagWelcome, Checks: checks}) != nil {
		return
	}
	offered := map[string]bool{}
	for range maxMessages {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return // closed, too big, or the lifetime is over
		}
		m, err := wire.DecodeDiagRequest(frame)
		switch {
		case err != nil:
			ses.refuse(wire.CodeBadMessage, wire.ClosePolicyViolation, err.Error())
			return
		case m.Type == wire.TypeDiagSTUN:
			turnPorts, secondPorts := s.relay.Bindings(m.Ports)
			if ses.send(wire.DiagMessage{Type: wire.TypeDiagSTUNSeen, Ports: turnPorts, SecondPorts: secondPorts}) != nil {
				return
			}
		case offered[m.Check]:
			ses.refuse(wire.CodeBadMessage, wire.ClosePolicyViolation, "a second offer for "+m.Check)
			return
		default:
			offered[m.Check] = true
			ses.wg.Add(1)
			go ses.answer(m.Check, m.SDP, checks[m.Check])
		}
	}
	ses.refuse(wire.CodeRateLimited, wire.ClosePolicyViolation)
}

// checks are the ICE servers of each network check, as the page reaches
// them. TURN over TLS is the web port's when the page came over HTTPS (a
// network that passes only HTTPS passes that), else TURN's own TLS port;
// a server with neither offers no such check.
func (s *Service) checks(page turn.Page) (map[string][]wire.ICEServer, error) {
	e := s.relay.Endpoints(page)
	user, password, err := s.relay.Credentials("diag-" + randomID())
	if err != nil {
		return nil, err
	}
	relay := func(url string) []wire.ICEServer {
		return []wire.ICEServer{{URLs: []string{url}, Username: user, Credential: password}}
	}
	checks := map[string][]wire.ICEServer{
		wire.CheckSTUN:    {{URLs: []string{e.STUN}}},
		wire.CheckNAT:     {{URLs: []string{e.STUN, e.SecondSTUN}}},
		wire.CheckTURNUDP: relay(e.UDP),
		wire.CheckTURNTCP: relay(e.TCP),
	}
	switch {
	case strings.HasPrefix(e.Web, "turns:"):
		checks[wire.CheckTURNTLS] = relay(e.Web)
	case e.TLS != "":
		checks[wire.CheckTURNTLS] = relay(e.TLS)
	}
	return checks, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

// session is one page's socket and its echo peers. The Serve goroutine
// reads; answer goroutines and Serve write, one at a time (wmu).
type session struct {
	svc  *Service
	conn Conn
	wg   sync.WaitGroup // answer goroutines

	wmu sync.Mutex // guards writes to conn

	mu     sync.Mutex // guards peers and closed
	peers  []*webrtc.PeerConnection
	closed bool
}

func (ses *session) send(m wire.DiagMessage) error {
	frame, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("diag: encode %s: %w", m.Type, err)
	}
	ses.wmu.Lock()
	defer ses.wmu.Unlock()
	_ = ses.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ses.conn.WriteMessage(websocket.TextMessage, frame)
}

// refuse tells the page why it is put out, then closes with closeCode.
func (ses *session) refuse(code string, closeCode int, message ...string) {
	_ = ses.send(wire.DiagMessage{Type: wire.TypeError, Code: code, Message: strings.Join(message, " ")})
	ses.wmu.Lock()
	defer ses.wmu.Unlock()
	_ = ses.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ses.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code))
}

// answer answers the page's offer for check with a new echo peer.
func (ses *session) answer(check, offer string, servers []wire.ICEServer) {
	defer ses.wg.Done()
	if servers == nil {
		_ = ses.send(wire.DiagMessage{Type: wire.TypeError, Check: check, Code: wire.CodeUnavailable,
			Message: "this server offers no " + check})
		return
	}
	pc, answer, err := ses.svc.echo(offer)
	if err != nil {
		ses.svc.log.Info("diagnosis echo peer failed", "check", check, "err", err)
		_ = ses.send(wire.DiagMessage{Type: wire.TypeError, Check: check, Code: wire.CodeBadMessage, Message: err.Error()})
		return
	}
	if !ses.keep(pc) {
		return
	}
	_ = ses.send(wire.DiagMessage{Type: wire.TypeDiagAnswer, Check: check, SDP: answer})
}

// keep adds pc to the peers closed with the session; a session already
// closed closes it at once.
func (ses *session) keep(pc *webrtc.PeerConnection) bool {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	if ses.closed {
		_ = pc.Close()
		return false
	}
	ses.peers = append(ses.peers, pc)
	return true
}

// close closes the socket, waits for answers under way, and closes the
// echo peers.
func (ses *session) close() {
	_ = ses.conn.Close()
	ses.wg.Wait()
	ses.mu.Lock()
	defer ses.mu.Unlock()
	ses.closed = true
	for _, pc := range ses.peers {
		if err := pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			ses.svc.log.Debug("close echo peer", "err", err)
		}
	}
}
