package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/bench"
	"tandem/e2e/harness"
)

// startBenchServer runs tandem in-process with the flags `tandem bench`
// gives the server it starts. The relays are announced on 127.0.0.1, where
// the bench's echo peer (127.0.0.2) is not their own address.
func startBenchServer(t *testing.T, extra ...string) testServer {
	t.Helper()
	flags := bench.ServerFlags("127.0.0.1:0", "127.0.0.1:0", "bench-smoke-secret")
	return startServer(t, append(append(flags, "-turn-public-ip", "127.0.0.1"), extra...)...)
}

// The smoke tests run each bench mode for a few seconds with a tiny load,
// so that the tool cannot rot. Real figures come from `tandem bench`.

func TestBenchSignalSmoke(t *testing.T) {
	srv := startBenchServer(t)
	res, err := bench.RunSignal(context.Background(), bench.SignalConfig{
		URL:          srv.URL,
		PID:          os.Getpid(),
		Pairs:        10,
		JoinRate:     500,
		FixedRate:    200,
		Steps:        []int{400},
		StepDuration: 500 * time.Millisecond,
		Settle:       100 * time.Millisecond,
		Timeout:      30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sockets != 20 || res.Join.N != 20 {
		t.Errorf("joined %d sockets, %d latencies, want 20", res.Sockets, res.Join.N)
	}
	if f := res.Fixed; f == nil || f.Sent == 0 || f.Lost != 0 || f.Misrouted != 0 || f.Latency.N != f.Sent {
		t.Errorf("fixed-rate run: %+v", f)
	}
	if len(res.Steps) != 1 || res.MaxClean != 400 {
		t.Errorf("steps %+v, max clean %d, want one clean step at 400", res.Steps, res.MaxClean)
	}
	var out bytes.Buffer
	res.WriteTable(&out)
	if !strings.Contains(out.String(), "max clean rate") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestBenchTURNCommandSmoke runs `tandem bench turn` over each transport:
// UDP and TCP on the TURN port, TLS on the web port.
func TestBenchTURNCommandSmoke(t *testing.T) {
	certFile, keyFile, _ := selfSignedCert(t)
	srv := startBenchServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	for _, tt := range []struct{ transport, server string }{
		{"udp", "127.0.0.1:" + strconv.Itoa(srv.TURNPort)},
		{"tcp", "127.0.0.1:" + strconv.Itoa(srv.TURNPort)},
		{"tls", srv.addr()},
	} {
		t.Run(tt.transport, func(t *testing.T) {
			var out, progress bytes.Buffer
			err := runBench(context.Background(), []string{"turn", "-transport", tt.transport,
				"-server", tt.server, "-secret", "bench-smoke-secret",
				"-pid", strconv.Itoa(os.Getpid()), "-clients", "3", "-rate", "100", "-duration", "500ms"}, &out, &progress)
			if err != nil {
				t.Fatalf("%v\n%s", err, progress.String())
			}
			if !strings.Contains(out.String(), "allocations  3 (0 failed)") || !strings.Contains(out.String(), "loss 0.000%") {
				t.Errorf("table:\n%s", out.String())
			}
		})
	}
}

// TestBenchCallSmoke times a call of each path: direct, relay-only, and
// relay-only over TURN over TLS on the web port (the server then serves
// HTTPS).
// TestBenchCapacitySmoke runs `tandem bench capacity` for two short steps
// of relayed calls: the table has a row for the first step at least, and
// a capacity line. (Whether a step holds depends on the machine's load.)
func TestBenchCapacitySmoke(t *testing.T) {
	srv := startBenchServer(t)
	var out, progress bytes.Buffer
	err := runBench(context.Background(), []string{"capacity", "-server", "127.0.0.1:" + strconv.Itoa(srv.TURNPort),
		"-secret", "bench-smoke-secret", "-pid", strconv.Itoa(os.Getpid()), "-steps", "1,2", "-step-duration", "1s"}, &out, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	table := out.String()
	for _, want := range []string{"\n1  ", "relayed Mbit/s"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if !regexp.MustCompile(`capacity: [0-2] calls`).MatchString(table) {
		t.Errorf("no capacity line:\n%s", table)
	}
}

func TestBenchCallSmoke(t *testing.T) {
	certFile, keyFile, cert := selfSignedCert(t)
	plain := startBenchServer(t)
	secure := startBenchServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	for _, cfg := range []bench.CallConfig{
		{URL: plain.URL},
		{URL: plain.URL, Relay: true},
		{URL: "https://" + secure.addr(), RelayTLS: true, TLS: &tls.Config{RootCAs: cert.Pool}},
	} {
		cfg.Runs, cfg.RunTimeout, cfg.Timeout = 1, 10*time.Second, 30*time.Second
		res, err := bench.RunCall(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if res.Connected.N != 1 || res.FirstFrame.P50 < res.Connected.P50/2 || res.Failures != 0 {
			t.Errorf("%+v: %+v", cfg, res)
		}
	}
}

// TestBenchCallChromiumSmoke times one call between two headless Chromium
// tabs on the real call page, so that the bench follows the page's lobby.
func TestBenchCallChromiumSmoke(t *testing.T) {
	execPath := harness.NeedChromium(t)
	srv := startBenchServer(t)
	res, err := bench.RunCall(context.Background(), bench.CallConfig{
		URL: srv.URL, Peer: "chromium", Chromium: execPath, Runs: 1, RunTimeout: 20 * time.Second, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected.N != 1 || res.Lobby.P50 <= 0 || res.Connected.P50 <= res.Lobby.P50 {
		t.Errorf("%+v", res)
	}
}

func TestBenchUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runBench(context.Background(), []string{"nonsense"}, &out, &errOut); err == nil {
		t.Error("unknown mode accepted")
	}
	if !strings.Contains(errOut.String(), "tandem bench signal|turn|capacity|call|flags") {
		t.Errorf("usage:\n%s", errOut.String())
	}
}

func TestPprofFlag(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true,
		"[::1]:6060":     true,
		":6060":          false,
		"0.0.0.0:6060":   false,
		"192.0.2.1:6060": false,
		"localhost:6060": false, // a name could resolve anywhere
	} {
		_, err := parseConfig([]string{"-pprof", addr}, func(string) string { return "" }, &bytes.Buffer{})
		if (err == nil) != ok {
			t.Errorf("-pprof %s: err %v, want ok %v", addr, err, ok)
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	stop, err := servePprof(addr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /debug/pprof/cmdline: %s", res.Status)
	}
}

// TestBenchFlags checks that what `tandem bench flags` prints for the bench
// scripts is a valid command line that turns the limits off.
func TestBenchFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runBench(context.Background(), []string{"flags"}, &out, &errOut); err != nil {
		t.Fatalf("bench flags: %v (%s)", err, errOut.String())
	}
	c, err := parseConfig(strings.Fields(out.String()), func(string) string { return "" }, &errOut)
	if err != nil {
		t.Fatalf("parse %q: %v", out.String(), err)
	}
	s := c.signaling
	if s.maxConns != -1 || s.maxRooms != -1 || s.maxConnsPerIP != -1 || s.joinsPerIPPerMinute != -1 || s.messageBurst != -1 ||
		c.turn.maxBitrate != -1 || c.turn.maxAllocsPerIP != -1 {
		t.Errorf("limits left on by %q: signaling %+v, turn %+v", out.String(), s, c.turn)
	}
}
