package diag

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"tandem/signaling/wire"
	"tandem/turn"
)

// startDiag runs a real TURN server (relays on 127.0.0.2, as in a
// deployment where loopback is a forbidden peer) and a Service behind a
// real WebSocket; it returns the socket's URL.
func startDiag(t *testing.T, limits Limits) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	relay, err := turn.New(turn.Config{Addr: "127.0.0.1:0", Secret: "test-secret", RelayIP: netip.MustParseAddr("127.0.0.2"),
		RelayMinPort: 61000, RelayMaxPort: 61999}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	svc := New(relay, limits, logger)
	web := fiber.New(fiber.Config{DisableStartupMessage: true})
	web.Get("/ws", websocket.New(func(c *websocket.Conn) {
		svc.Serve(c.Conn, netip.MustParseAddr("127.0.0.1"), turn.Page{Host: "127.0.0.1"})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = web.Listener(ln) }()
	t.Cleanup(func() { _ = web.Shutdown() })
	return "ws://" + ln.Addr().String() + "/ws"
}

func dial(t *testing.T, url string) *fws.Conn {
	t.Helper()
	conn, _, err := fws.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func next(t *testing.T, conn *fws.Conn) wire.DiagMessage {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var m wire.DiagMessage
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// closeCode reads until the server closes the socket and returns its code.
func closeCode(t *testing.T, conn *fws.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		var ce *fws.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func iceServers(servers []wire.ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// echoRoundTrip does what the page does for a relay check, as a Pion
// peer: a relay-only offer over the check's one TURN URL, the echo peer's
// answer, and a message there and back.
func echoRoundTrip(t *testing.T, conn *fws.Conn, check string, servers []wire.ICEServer) time.Duration {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{
		ICEServers: iceServers(servers), ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dc, err := pc.CreateDataChannel("diag", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened, echoed := make(chan struct{}), make(chan string, 1)
	dc.OnOpen(func() { close(opened) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if !strings.Contains(pc.LocalDescription().SDP, " typ relay") {
		t.Fatalf("%s: no relay candidate", check)
	}
	if err := conn.WriteJSON(wire.DiagMessage{Type: wire.TypeDiagOffer, Check: check, SDP: pc.LocalDescription().SDP}); err != nil {
		t.Fatal(err)
	}
	answer := next(t, conn)
	if answer.Type != wire.TypeDiagAnswer || answer.Check != check || !strings.Contains(answer.SDP, " typ relay") {
		t.Fatalf("%s: got %+v, want an answer with a relay candidate", check, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: the data channel did not open through the relay", check)
	}
	t0 := time.Now()
	if err := dc.SendText("ping 1"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-echoed:
		if got != "ping 1" {
			t.Errorf("%s: echoed %q", check, got)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no echo", check)
	}
	pair, _ := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
		t.Errorf("%s: selected pair %v, want relay to relay", check, pair)
	}
	return time.Since(t0)
}

// TestEchoThroughRelay: over UDP and over TCP to the TURN port, a relay-only
// peer reaches the server's echo peer through two relays of the server and
// gets its message back; the welcome offers no TLS check on a server
// without a certificate.
func TestEchoThroughRelay(t *testing.T) {
	conn := dial(t, startDiag(t, Limits{}))
	welcome := next(t, conn)
	if welcome.Type != wire.TypeDiagWelcome {
		t.Fatalf("got %+v, want the welcome", welcome)
	}
	for _, check := range []string{wire.CheckSTUN, wire.CheckNAT, wire.CheckTURNUDP, wire.CheckTURNTCP} {
		if len(welcome.Checks[check]) != 1 {
			t.Errorf("welcome: %s: %+v", check, welcome.Checks[check])
		}
	}
	if s := welcome.Checks[wire.CheckNAT]; len(s) == 1 && len(s[0].URLs) != 2 {
		t.Errorf("nat: %v, want two STUN URLs", s[0].URLs)
	}
	if _, ok := welcome.Checks[wire.CheckTURNTLS]; ok {
		t.Errorf("a TLS check offered by a server without TLS")
	}
	for _, check := range []string{wire.CheckTURNUDP, wire.CheckTURNTCP} {
		rtt := echoRoundTrip(t, conn, check, welcome.Checks[check])
		t.Logf("%s: round trip through two relays in %v", check, rtt)
	}
	// The TLS check, not offered here, is answered with an error that
	// leaves the socket open.
	if err := conn.WriteJSON(wire.DiagMessage{Type: wire.TypeDiagOffer, Check: wire.CheckTURNTLS, SDP: "v=0"}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, conn); m.Type != wire.TypeError || m.Check != wire.CheckTURNTLS || m.Code != wire.CodeUnavailable {
		t.Errorf("got %+v, want unavailable for turn-tls", m)
	}
}

// TestBadInput: whatever a page sends, it gets a clear error, and a
// session breaking the rules is put out, while another session goes on.
func TestBadInput(t *testing.T) {
	url := startDiag(t, Limits{MaxSessionsPerIP: 8})
	bystander := dial(t, url)
	next(t, bystander)
	for _, tt := range []struct {
		name      string
		frames    []string
		wantCode  string // of the last error
		wantClose int    // 0: the socket stays open
	}{
		{"not JSON", []string{`{"type":`}, wire.CodeBadMessage, wire.ClosePolicyViolation},
		{"unknown type", []string{`{"type":"join","room":"x"}`}, wire.CodeBadMessage, wire.ClosePolicyViolation},
		{"offer for no relay", []string{`{"type":"diag-offer","check":"media","sdp":"v=0"}`}, wire.CodeBadMessage, wire.ClosePolicyViolation},
		{"a second offer", []string{`{"type":"diag-offer","check":"turn-udp","sdp":"v=0"}`, `{"type":"diag-offer","check":"turn-udp","sdp":"v=0"}`}, wire.CodeBadMessage, wire.ClosePolicyViolation},
		{"garbage SDP", []string{`{"type":"diag-offer","check":"turn-udp","sdp":"hello"}`}, wire.CodeBadMessage, 0},
		{"a flood", []string{`{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`,
			`{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`,
			`{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`, `{"type":"diag-stun","ports":[1]}`}, wire.CodeRateLimited, wire.ClosePolicyViolation},
		{"oversized", []string{`{"type":"diag-offer","check":"turn-udp","sdp":"` + strings.Repeat("a", 64<<10) + `"}`}, "", fws.CloseMessageTooBig},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, url)
			next(t, conn)
			for _, f := range tt.frames {
				if err := conn.WriteMessage(fws.TextMessage, []byte(f)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantCode != "" {
				var last wire.DiagMessage
				for last.Type != wire.TypeError {
					last = next(t, conn)
				}
				if last.Code != tt.wantCode || last.Message == "" && tt.wantCode == wire.CodeBadMessage {
					t.Errorf("error %+v, want code %s with a reason", last, tt.wantCode)
				}
			}
			if tt.wantClose != 0 {
				if code := closeCode(t, conn); code != tt.wantClose {
					t.Errorf("closed with %d, want %d", code, tt.wantClose)
				}
				return
			}
			if err := conn.WriteJSON(wire.DiagMessage{Type: wire.TypeDiagSTUN, Ports: []uint16{9}}); err != nil {
				t.Fatal(err)
			}
			if m := next(t, conn); m.Type != wire.TypeDiagSTUNSeen {
				t.Errorf("after the error the socket answered %+v", m)
			}
		})
	}
	if err := bystander.WriteJSON(wire.DiagMessage{Type: wire.TypeDiagSTUN, Ports: []uint16{9}}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, bystander); m.Type != wire.TypeDiagSTUNSeen {
		t.Errorf("the bystander's session got %+v", m)
	}
}

// TestLimits: sessions per address and in all, and a session's lifetime.
func TestLimits(t *testing.T) {
	url := startDiag(t, Limits{MaxSessionsPerIP: 2, MaxSessions: 3, SessionLifetime: 2 * time.Second})
	a, b := dial(t, url), dial(t, url)
	next(t, a)
	next(t, b)
	third := dial(t, url)
	if m := next(t, third); m.Type != wire.TypeError || m.Code != wire.CodeTooManyConnections {
		t.Errorf("a third session from one address got %+v", m)
	}
	if code := closeCode(t, third); code != wire.CloseTryAgainLater {
		t.Errorf("closed with %d, want %d", code, wire.CloseTryAgainLater)
	}
	start := time.Now()
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadMessage(); err == nil {
		t.Error("a session outlived its lifetime")
	} else if took := time.Since(start); took > 4*time.Second {
		t.Errorf("a session closed %v after its lifetime", took)
	}
	// Its slot is free again.
	again := dial(t, url)
	if m := next(t, again); m.Type != wire.TypeDiagWelcome {
		t.Errorf("after a session ended, a new one got %+v", m)
	}
}
