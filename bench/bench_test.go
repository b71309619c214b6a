package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"tandem/turn"
)

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := summarize(d)
	want := Summary{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
	if s := summarize(nil); s != (Summary{}) {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

func TestSignalFrame(t *testing.T) {
	for _, tc := range []struct {
		size     int
		socketIO bool
	}{{128, false}, {1024, false}, {4096, false}, {128, true}, {1024, true}} {
		size := tc.size
		f := signalFrame(size, tc.socketIO)
		if len(f) != size || !json.Valid(f[bytes.IndexAny(f, "[{"):]) {
			t.Errorf("signalFrame(%d, %v) is %d bytes: %.60s", size, tc.socketIO, len(f), f)
		}
		r := &relayRun{step: 7, lat: make([]time.Duration, 1)}
		key := bytes.Index(f, keyMarker) + len(keyMarker)
		putHex(f[key:key+4], 7)
		putHex(f[key+4:key+12], 4)
		putHex(f[key+12:key+28], uint64(time.Second))
		r.receive(5, f, 3*time.Second)
		if r.n.Load() != 1 || r.lat[0] != 2*time.Second || r.misrouted.Load() != 0 {
			t.Errorf("size %d: received %d, latency %v, misrouted %d", size, r.n.Load(), r.lat[0], r.misrouted.Load())
		}
	}
}

func TestReadProc(t *testing.T) {
	st, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS < 1<<20 {
		t.Errorf("RSS %d bytes, want at least 1 MiB", st.RSS)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit(1024)
	if err != nil || n < 1024 {
		t.Errorf("RaiseFileLimit(1024) = %d, %v", n, err)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	ctx := context.Background()
	_, err1 := RunSignal(ctx, SignalConfig{URL: "http://192.0.2.1:8080", Pairs: 1})
	_, err2 := RunTURN(ctx, TURNConfig{Server: "192.0.2.1:3478", Secret: "s"})
	_, err3 := RunCall(ctx, CallConfig{URL: "http://example.org"})
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("mode %d: err %v, want ErrNotLoopback", i, err)
		}
	}
}

// TestTURNSmoke is a tiny TURN run against the turn package's server with
// the bench's settings, so that the tool cannot rot. The signal and call
// modes are smoke-tested against the whole server in cmd/tandem.
func TestTURNSmoke(t *testing.T) {
	srv, err := turn.New(turn.Config{
		Addr:           "127.0.0.1:0",
		Secret:         "bench-smoke",
		AllowPeers:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RelayMinPort:   61000,
		RelayMaxPort:   61999,
		MaxBitrate:     -1,
		MaxAllocsPerIP: -1,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := RunTURN(context.Background(), TURNConfig{
		Server:   "127.0.0.1:" + strconv.Itoa(srv.Port()),
		Secret:   "bench-smoke",
		PID:      os.Getpid(),
		Clients:  3,
		Rate:     100,
		Duration: 500 * time.Millisecond,
		Timeout:  30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Allocated != 3 || res.Sent == 0 || res.Echoed == 0 || res.RTT.N != res.Echoed {
		t.Errorf("allocated %d, sent %d, echoed %d, %d RTTs", res.Allocated, res.Sent, res.Echoed, res.RTT.N)
	}
	res.WriteTable(io.Discard)
}

// TestParseTarget: the bench's -url takes what people type.
func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"localhost:8080", "http://localhost:8080", false},
		{"ws://127.0.0.1:8080/ws/room", "http://127.0.0.1:8080", false},
		{"wss://127.0.0.1:8443", "https://127.0.0.1:8443", false},
		{"https://[::1]:8443/", "https://[::1]:8443", false},
		{"http://192.0.2.1:8080", "", true},
		{"ftp://127.0.0.1:21", "", true},
		{"http://", "", true},
	} {
		u, err := ParseTarget(tt.in)
		if (err != nil) != tt.err || (err == nil && u.String() != tt.want) {
			t.Errorf("ParseTarget(%q) = %v, %v; want %q (error %t)", tt.in, u, err, tt.want, tt.err)
		}
	}
}
