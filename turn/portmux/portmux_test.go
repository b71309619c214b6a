package portmux

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"tandem/bench/selfsigned"
)

func TestClassify(t *testing.T) {
	stunHeader := func(msgType uint16) []byte {
		m := stun.New()
		m.Type = stun.MessageType{Method: stun.Method(msgType), Class: stun.ClassRequest}
		m.WriteHeader()
		return m.Raw[:8]
	}
	tests := []struct {
		name  string
		first []byte
		want  Kind
	}{
		{"GET", []byte("GET / HTTP/1.1\r\n"), Web},
		{"OPTIONS", []byte("OPTIONS * HTTP/1.1"), Web},
		{"CONNECT", []byte("CONNECT x"), Web},
		{"long method", []byte("PROPFIND / HTTP/1.1"), Web},
		{"STUN binding", stunHeader(0x001), TURN},
		{"STUN allocate", stunHeader(0x003), TURN},
		{"ChannelData 0x4000", []byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}, TURN},
		{"ChannelData 0x4F01", []byte{0x4F, 0x01, 0x00, 0x10, 'a', 'b', 'c', 'd'}, TURN},
		{"ChannelData 0x7FFF", []byte{0x7F, 0xFF, 0x00, 0x00, 0, 0, 0, 0}, TURN},
		{"POST", []byte("POST /rooms HTTP/1.1"), Web},
		{"ChannelData that spells letters", []byte("ABCDEFGH"[:4] + "\x00\x01\x02\x03"), TURN},
		{"TLS ClientHello on the plain port", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01}, Web},
		{"zeros without the cookie", make([]byte, 8), Web},
		{"garbage", []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8}, Web},
		{"too short", []byte("GET"), Web},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.first); got != tt.want {
				t.Errorf("Classify(%q) = %s, want %s", tt.first, got, tt.want)
			}
		})
	}
}

// testCert is a self-signed certificate for 127.0.0.1 and its pool.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	c, err := selfsigned.New("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return c.TLS, c.Pool
}

// muxed is a Mux on loopback with an HTTP server (which upgrades /ws to a
// WebSocket echo) on its web side and a pion TURN server on its TURN side.
type muxed struct {
	mux  *Mux
	addr string
	pool *x509.CertPool // nil without TLS
}

const (
	testRealm  = "portmux"
	testUser   = "alice"
	testSecret = "secret"
)

func startMuxed(t *testing.T, useTLS bool, alpn []string, cfg Config) muxed {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var pool *x509.CertPool
	if useTLS {
		var cert tls.Certificate
		cert, pool = testCert(t)
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: alpn, MinVersion: tls.VersionTLS12}
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := New(ln, cfg)
	t.Cleanup(func() { _ = m.Close() })

	upgrader := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "web %s tls=%t", r.Proto, r.TLS != nil)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(m.Web()) }()
	t.Cleanup(func() { _ = srv.Close() })

	key := turn.GenerateAuthKey(testUser, testRealm, testSecret)
	ts, err := turn.NewServer(turn.ServerConfig{
		Realm: testRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == testUser
		},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener: m.TURN(),
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1",
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	return muxed{mux: m, addr: ln.Addr().String(), pool: pool}
}

func (m muxed) dial(t *testing.T, alpn []string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", m.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if m.pool == nil {
		return c
	}
	tc := tls.Client(c, &tls.Config{RootCAs: m.pool, ServerName: "127.0.0.1", NextProtos: alpn})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}

// allocate gets a relay over conn with a pion TURN client.
func allocate(t *testing.T, conn net.Conn, serverAddr string) {
	t.Helper()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: serverAddr, TURNServerAddr: serverAddr,
		Conn: turn.NewSTUNConn(conn), Username: testUser, Password: testSecret, Realm: testRealm,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate through the shared port: %v", err)
	}
	_ = relay.Close()
}

func TestRoutes(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		m := startMuxed(t, useTLS, []string{"h2", "http/1.1", "stun.turn"}, Config{})
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: m.pool}, ForceAttemptHTTP2: true}}

		t.Run(scheme+"/HTTP", func(t *testing.T) {
			resp, err := client.Get(scheme + "://" + m.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("tls=%t", useTLS)
			if !strings.HasSuffix(string(body), want) {
				t.Errorf("body %q, want ...%s", body, want)
			}
			if useTLS && resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2 (ALPN h2 goes to the web side)", resp.Proto)
			}
		})
		t.Run(scheme+"/HTTP/1.1 without ALPN", func(t *testing.T) {
			c := m.dial(t, nil)
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "web HTTP/1.1") {
				t.Errorf("got %d %q", resp.StatusCode, body)
			}
		})
		t.Run(scheme+"/WebSocket", func(t *testing.T) {
			d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: m.pool}, HandshakeTimeout: 5 * time.Second}
			ws, _, err := d.Dial(strings.Replace(scheme, "http", "ws", 1)+"://"+m.addr+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "hello" {
				t.Errorf("echo %q, %v", msg, err)
			}
		})
		alpns := [][]string{nil}
		if useTLS {
			alpns = append(alpns, []string{"stun.turn"})
		}
		for _, alpn := range alpns {
			t.Run(fmt.Sprintf("%s/TURN ALPN %v", scheme, alpn), func(t *testing.T) {
				allocate(t, m.dial(t, alpn), m.addr)
			})
		}
	}
}

// TestGarbage: bytes that are neither HTTP nor TURN go to the web server,
// which answers 400; on the TLS port they fail the handshake. Either way
// the port keeps serving.
func TestGarbage(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		m := startMuxed(t, useTLS, []string{"http/1.1", "stun.turn"}, Config{})
		c, err := net.Dial("tcp", m.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8 not a request\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, _ := io.ReadAll(c)
		c.Close()
		if !useTLS && !strings.HasPrefix(string(reply), "HTTP/1.1 400") {
			t.Errorf("plain: garbage answered %q, want 400 Bad Request", reply)
		}
		if useTLS && strings.Contains(string(reply), "HTTP") {
			t.Errorf("TLS: garbage answered %q, want the connection closed", reply)
		}
		allocate(t, m.dial(t, nil), m.addr)
	}
}

// TestSlowloris: a connection that sends too little is closed after
// FirstBytesTimeout, one address holds at most MaxPendingPerIP of them,
// and neither stops anyone else.
func TestSlowloris(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "TLS"
		}
		t.Run(name, func(t *testing.T) {
			const limit = 4
			m := startMuxed(t, useTLS, []string{"http/1.1", "stun.turn"},
				Config{FirstBytesTimeout: 2 * time.Second, MaxPendingPerIP: limit})
			var slow []net.Conn
			for range limit {
				c, err := net.Dial("tcp", m.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, _ = c.Write([]byte{0x00}) // one byte of a STUN header or a ClientHello, then nothing
				slow = append(slow, c)
			}
			// The next connection from this address is over the limit: closed
			// without a byte read. (Wait until the server has counted the
			// others: an accept races with the dials.)
			if err := waitClosed(t, m.addr, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// The slow ones are closed once their time is up.
			for i, c := range slow {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
					t.Errorf("slow connection %d: read %v, want it closed by the server", i, err)
				}
			}
			// And then the address may connect again.
			allocate(t, m.dial(t, nil), m.addr)
		})
	}
}

// waitClosed dials until a connection is closed by the server before it
// has sent anything.
func waitClosed(t *testing.T, addr string, within time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for ctx.Err() == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if errors.Is(err, io.EOF) || isReset(err) {
			return nil
		}
	}
	return fmt.Errorf("a connection over the per-address limit was not closed within %s", within)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestCloseBoth: the shared listener closes with the second sub-listener,
// and each sub-listener's Accept then returns net.ErrClosed.
func TestCloseBoth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, Config{})
	m.Web().Close()
	if c, err := net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatalf("the shared listener closed with only one side: %v", err)
	} else {
		c.Close()
	}
	m.TURN().Close()
	if _, err := m.Web().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the shared listener still accepts after both sides closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestACMETLSALPN: a CA's TLS-ALPN-01 check completes its handshake with
// the acme-tls/1 protocol and is closed, reaching neither side.
func TestACMETLSALPN(t *testing.T) {
	m := startMuxed(t, true, []string{"http/1.1", "stun.turn", ACMETLSProtocol}, Config{})
	c, err := tls.Dial("tcp", m.addr, &tls.Config{RootCAs: m.pool, NextProtos: []string{ACMETLSProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != ACMETLSProtocol {
		t.Fatalf("negotiated %q", p)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}
