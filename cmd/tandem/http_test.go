package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/e2e/harness"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

func TestPages(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantIn     []string
		location   string
	}{
		{"home", "/", 200, []string{`<form class="room-form" method="post" action="/rooms">`, `name="action" value="new"`, `<a href="/diag">`}, ""},
		{"connection test", "/diag", 200, []string{`data-verdict="running"`, `data-check="websocket" data-result="running"`, `data-check="media"`,
			`data-check="stun"`, `data-check="nat"`, `data-check="turn-udp"`, `data-check="turn-tcp"`, `data-check="turn-tls"`, `id="report"`}, ""},
		{"connection test socket is no room", "/ws/-/diag", 426, nil, ""},
		{"call page", "/r/team-a", 200, []string{`id="status"`, `aria-live="polite"`, `data-state="waiting"`, `<video id="local-video"`, `<video id="remote-video"`, `data-room="team-a"`}, ""},
		{"chinese room", "/r/" + url.PathEscape("家庭会议"), 200, []string{`data-room="家庭会议"`}, ""},
		{"canonical redirect", "/r/Team-A?relay=1", 308, nil, "/r/team-a?relay=1"},
		{"cherokee settles on one name", "/r/" + url.PathEscape("ꮮ"), 308, nil, "/r/" + url.PathEscape("Ꮮ")},
		{"cherokee canonical name", "/r/" + url.PathEscape("Ꮮ"), 200, []string{`id="status"`}, ""},
		{"invalid room", "/r/%3Cscript%3E", 400, []string{`id="room-problem"`, `&lt;script&gt;`, `<form`}, ""},
		{"too long", "/r/" + strings.Repeat("a", 65), 400, []string{"longer than 64"}, ""},
		{"broken UTF-8", "/r/%E0%A4", 400, []string{`<form`}, ""},
		{"healthz", "/healthz", 200, []string{"ok"}, ""},
		{"unknown", "/nope", 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := harness.Get(t, srv.URL+tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if tt.location != "" && resp.Header.Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tt.location)
			}
		})
	}
}

func TestRoomForm(t *testing.T) {
	srv := startServer(t)
	randomRoom := regexp.MustCompile(`^/r/[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$`)
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		location   *regexp.Regexp
	}{
		{"typed name", url.Values{"name": {"Team-A"}, "action": {"join"}}, 303, regexp.MustCompile(`^/r/team-a$`)},
		{"chinese name", url.Values{"name": {"家庭会议"}}, 303, regexp.MustCompile(`^/r/` + regexp.QuoteMeta(url.PathEscape("家庭会议")) + `$`)},
		{"new room", url.Values{"action": {"new"}}, 303, randomRoom},
		{"new room ignores typed name", url.Values{"name": {"<x>"}, "action": {"new"}}, 303, randomRoom},
		{"empty name", url.Values{"name": {""}, "action": {"join"}}, 400, nil},
		{"hostile name", url.Values{"name": {`"><script>alert(1)</script>`}}, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := harness.PostForm(t, srv.URL+"/rooms", tt.form)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.location != nil && !tt.location.MatchString(resp.Header.Get("Location")) {
				t.Fatalf("Location %q, want %v", resp.Header.Get("Location"), tt.location)
			}
			if tt.wantStatus == 400 {
				if !strings.Contains(body, `id="room-problem"`) || !strings.Contains(body, `<form`) {
					t.Errorf("400 page does not explain and offer the form:\n%s", body)
				}
				if strings.Contains(body, "<script>alert") {
					t.Errorf("hostile name reflected unescaped:\n%s", body)
				}
			}
		})
	}
}

// postTooLarge posts a 64 KiB form and returns the answer. fasthttp
// answers 413 from the Content-Length and closes at once, so the body is
// written on its own while the answer is read: an HTTP client that writes
// the whole body first may see a broken pipe instead.
func postTooLarge(t *testing.T, addr string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := strings.Repeat("x", 64<<10)
	go func() {
		_, _ = fmt.Fprintf(conn, "POST /rooms HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("413 body too large: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 64 KiB form: status %d, want 413", resp.StatusCode)
	}
	return resp
}

func TestSecurityHeaders(t *testing.T) {
	srv := startServer(t)
	refused := func(room, origin string) *http.Response {
		_, err := wire.Dial(context.Background(), srv.wsURL(room), &wire.DialOptions{Header: http.Header{"Origin": {origin}}})
		he, ok := errors.AsType[*wire.HandshakeError](err)
		if !ok || he.StatusCode != http.StatusForbidden {
			t.Fatalf("upgrade from %s: %v, want 403", origin, err)
		}
		return &http.Response{StatusCode: he.StatusCode, Header: he.Header}
	}
	responses := map[string]*http.Response{
		"refused upgrade":                 refused("team-a", "https://evil.example"),
		"refused connection test upgrade": refused("-/diag", "https://evil.example"),
	}
	for _, path := range []string{"/", "/r/team-a", "/r/%3C", "/healthz", "/ws/team-a", "/diag"} {
		responses[path], _ = harness.Get(t, srv.URL+path)
	}
	// Errors fasthttp raises before any handler runs.
	tooLarge := map[string]*http.Request{}
	tooLarge["431 header too large"], _ = http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	tooLarge["431 header too large"].Header.Set("X-Padding", strings.Repeat("x", 8<<10))
	for name, req := range tooLarge {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if code, _ := strconv.Atoi(name[:3]); resp.StatusCode != code {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
		responses[name] = resp
	}
	responses["413 body too large"] = postTooLarge(t, srv.addr())
	for path, resp := range responses {
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		for header, want := range map[string]string{
			"Referrer-Policy":        "no-referrer",
			"X-Content-Type-Options": "nosniff",
			"Permissions-Policy":     "camera=(self), microphone=(self), display-capture=(self)",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("%s: %s = %q, want %q", path, header, got, want)
			}
		}
	}

	// A 101 carries none of them: fasthttp would keep them as long as the
	// connection lasts.
	conn := wiretest.Dial(t, srv.wsURL("team-a"), nil)
	conn.Close()
	if csp := conn.UpgradeHeader().Get("Content-Security-Policy"); csp != "" {
		t.Errorf("101 carries a CSP: %q", csp)
	}
}

func TestAssetsAreHashedAndCached(t *testing.T) {
	srv := startServer(t)
	_, page := harness.Get(t, srv.URL+"/r/team-a")
	urls := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	preloads := regexp.MustCompile(`<link rel="modulepreload" href="(/assets/[^"]+\.js)"`).FindAllStringSubmatch(page, -1)
	if len(preloads) < 5 || len(urls) != 3+len(preloads) {
		t.Fatalf("found assets %v, want the icon, the stylesheet, the script and its modules preloaded (%d)", urls, len(preloads))
	}
	for _, m := range urls {
		req, _ := http.NewRequest("GET", srv.URL+m[1], nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", m[1], resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", m[1], cc)
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Errorf("%s: Content-Encoding %q, want gzip", m[1], ce)
		}
	}
	if resp, _ := harness.Get(t, srv.URL+"/assets/call.0000000000.js"); resp.StatusCode != 404 {
		t.Errorf("unknown asset: status %d", resp.StatusCode)
	}
}

func TestWebSocketUpgradeChecks(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name       string
		room       string
		origin     string
		wantStatus int // 101 when the upgrade must succeed
	}{
		{"same origin", "ok", srv.URL, 101},
		{"no origin (not a browser)", "ok2", "", 101},
		{"other origin", "ok3", "https://evil.example", 403},
		{"invalid room", "%3Cx%3E", srv.URL, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			conn, err := wire.Dial(context.Background(), srv.wsURL(tt.room), &wire.DialOptions{Header: h})
			status := http.StatusSwitchingProtocols
			if conn != nil {
				conn.Close()
			} else if he, ok := errors.AsType[*wire.HandshakeError](err); ok {
				status = he.StatusCode
			} else {
				t.Fatalf("no response: %v", err)
			}
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tt.wantStatus, err)
			}
		})
	}
	// A plain GET is told to upgrade.
	if resp, _ := harness.Get(t, srv.URL+"/ws/room"); resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: status %d, want 426", resp.StatusCode)
	}
}

// earlyConn sends its first write, the upgrade request, together with a
// WebSocket frame, as a client that does not wait for the 101 would.
type earlyConn struct {
	net.Conn
	early []byte
}

func (c *earlyConn) Write(p []byte) (int, error) {
	if c.early == nil {
		return c.Conn.Write(p)
	}
	_, err := c.Conn.Write(append(p, c.early...))
	c.early = nil
	return len(p), err
}

// TestFrameWithUpgrade sends a frame in the same packet as the upgrade
// request. fasthttp has it buffered when the connection is hijacked, and
// the hub reads the connection after the upgrade handler has returned: the
// frame must still arrive, and get its answer. Requests on other
// connections come next, which reuse fasthttp's pooled buffers; the
// WebSocket's reads must not go to one of those (fasthttp before 1.76
// gave its buffer back to the pool while the WebSocket still read
// through it).
func TestFrameWithUpgrade(t *testing.T) {
	srv := startServer(t)
	payload, err := json.Marshal(wire.ClientMessage{Type: wire.TypeSignal, Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// A masked text frame; the mask key 0 leaves the payload as it is.
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	conn := wiretest.Dial(t, srv.wsURL("early-frame"), &wire.DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &earlyConn{Conn: c, early: frame}, nil
	}})
	conn.MustExpect(wire.TypeCreated)
	noPeer := func() {
		t.Helper()
		if m := conn.MustExpect(wire.TypeError); m.Code != wire.CodeNoPeer {
			t.Fatalf("signal answered %+v, want no-peer", m)
		}
	}
	noPeer() // the early signal's

	for i := range 3 {
		if resp, _ := harness.Get(t, srv.URL+"/healthz"); resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		if err := conn.SendRaw(payload); err != nil {
			t.Fatalf("signal %d: %v", i, err)
		}
		noPeer()
	}
}

func TestAllowedOrigins(t *testing.T) {
	srv := startServer(t, "-allowed-origins", "https://app.example, https://other.example")
	h := http.Header{"Origin": {"https://other.example"}}
	conn, err := wire.Dial(context.Background(), srv.wsURL("x"), &wire.DialOptions{Header: h})
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	conn.Close()
}

// pageWeightBudget is what a page's own JavaScript and CSS may weigh,
// uncompressed.
const pageWeightBudget = 60_000

// TestPageWeight fails when the call page's or the connection test's own
// JavaScript and CSS outgrow the budget. They are served compressed and
// cached for good, but a phone on a slow network still has to parse them.
func TestPageWeight(t *testing.T) {
	srv := startServer(t)
	for _, path := range []string{"/r/weight", "/diag"} {
		t.Run(path, func(t *testing.T) {
			_, page := harness.Get(t, srv.URL+path)
			total, scripts := pageWeight(t, srv.URL, page)
			t.Logf("JavaScript and CSS: %d bytes of %d, %d scripts", total, pageWeightBudget, scripts)
			if scripts < 2 {
				t.Errorf("found %d scripts; the page's modules should all be counted", scripts)
			}
			if total == 0 || total > pageWeightBudget {
				t.Errorf("%s's JavaScript and CSS weigh %d bytes, budget %d", path, total, pageWeightBudget)
			}
		})
	}
}

// pageWeight adds up the JavaScript and CSS that page loads from base, the
// modules its scripts import included.
func pageWeight(t *testing.T, base, page string) (total, scripts int) {
	t.Helper()
	var queue []string
	for _, m := range regexp.MustCompile(`(?:src|href|data-messages)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		queue = append(queue, m[1])
	}
	// Modules bring the modules they import.
	imports := regexp.MustCompile(`\b(?:from|import)\s*["'](/assets/[^"']+\.js)["']`)
	seen := map[string]bool{}
	for len(queue) > 0 {
		url := queue[0]
		queue = queue[1:]
		if seen[url] {
			continue
		}
		seen[url] = true
		req, _ := http.NewRequest("GET", base+url, nil)
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", url, resp.Status)
		}
		if strings.HasSuffix(url, ".js") {
			scripts++
			for _, m := range imports.FindAllSubmatch(body, -1) {
				queue = append(queue, string(m[1]))
			}
		}
		if strings.HasSuffix(url, ".js") || strings.HasSuffix(url, ".css") {
			total += len(body)
		}
		t.Logf("%s: %d bytes", url, len(body))
	}
	return total, scripts
}

// TestPageLanguage: the language comes from ?lang= (then a cookie), the
// cookie, or Accept-Language, in that order.
func TestPageLanguage(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name, query, cookie, acceptLanguage string
		wantLang, wantText                  string
	}{
		{"no preference", "", "", "", "en", "Video calls for two"},
		{"English", "", "", "en-US,en;q=0.9", "en", "Video calls for two"},
		{"Chinese", "", "", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "两个人的视频通话"},
		{"Chinese second", "", "", "fr,zh;q=0.5", "zh-CN", "两个人的视频通话"},
		{"unsupported", "", "", "fr,de", "en", "Video calls for two"},
		{"cookie beats header", "", "en", "zh-CN", "en", "Video calls for two"},
		{"query beats cookie", "?lang=zh-CN", "en", "", "zh-CN", "两个人的视频通话"},
		{"unknown query", "?lang=xx", "", "zh", "zh-CN", "两个人的视频通话"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/"+tt.query, nil)
			if tt.acceptLanguage != "" {
				req.Header.Set("Accept-Language", tt.acceptLanguage)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "lang", Value: tt.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `<html lang="`+tt.wantLang+`">`) || !strings.Contains(string(body), tt.wantText) {
				t.Errorf("want lang %q with %q in:\n%s", tt.wantLang, tt.wantText, body)
			}
			setCookie := resp.Header.Get("Set-Cookie")
			if remembers := strings.HasPrefix(setCookie, "lang="+tt.wantLang+";"); remembers != strings.HasPrefix(tt.query, "?lang=zh") {
				t.Errorf("Set-Cookie %q after query %q", setCookie, tt.query)
			}
		})
	}
}
