package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

func TestMessageRateLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{MessageRate: 5, MessageBurst: 10})
		a, b, _, _ := pair(t, base, "flood")
		for range 30 {
			if err := a.Signal(json.RawMessage(`{}`)); err != nil {
				break
			}
		}
		// a gets rate-limited then a 1008 close; b keeps its seat and hears
		// peer-left right away.
		for {
			m := a.MustNext()
			if m.Type == wire.TypeError && m.Code == wire.CodeRateLimited {
				break
			}
		}
		if code := a.MustCloseCode(); code != wire.ClosePolicyViolation {
			t.Fatalf("close code %d, want 1008", code)
		}
		for {
			m := b.MustNext()
			if m.Type == wire.TypePeerLeft {
				break
			}
			if m.Type != wire.TypeSignal {
				t.Fatalf("b got %+v", m)
			}
		}
	})
}

func TestConnectionLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		tests := []struct {
			name     string
			cfg      Config
			allowed  int
			wantCode string
		}{
			{"connections per IP", Config{MaxConnsPerIP: 3}, 3, wire.CodeTooManyConnections},
			{"joins per IP per minute", Config{JoinsPerIPPerMinute: 4}, 4, wire.CodeTooManyJoins},
			{"connections on the server", Config{MaxConns: 2}, 2, wire.CodeServerBusy},
			{"rooms on the server", Config{MaxRooms: 2}, 2, wire.CodeServerBusy},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, base := newTestHub(t, be, tt.cfg)
				for i := range tt.allowed {
					c := wiretest.Dial(t, base+"limit-"+string(rune('a'+i)), nil)
					c.MustExpect(wire.TypeCreated)
				}
				c := wiretest.Dial(t, base+"limit-last", nil)
				m := c.MustExpect(wire.TypeError)
				if m.Code != tt.wantCode || m.Message == "" {
					t.Fatalf("got %+v, want %s", m, tt.wantCode)
				}
				if code := c.MustCloseCode(); code != wire.CloseTryAgainLater {
					t.Fatalf("close code %d, want 1013", code)
				}
			})
		}
	})
}

// Joins that arrive together are counted against MaxRooms before any of
// them is seated, so they cannot overshoot it. The dials start together,
// from a barrier, so that many joins are in flight at once.
func TestRoomLimitUnderConcurrentJoins(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		const maxRooms, dials = 3, 24
		_, base := newTestHub(t, be, Config{MaxRooms: maxRooms})
		start := make(chan struct{})
		results := make(chan string, dials)
		var wg sync.WaitGroup
		for i := range dials {
			wg.Go(func() {
				<-start
				c, err := wire.Dial(context.Background(), base+"burst-"+strconv.Itoa(i), nil)
				if err != nil {
					results <- "dial: " + err.Error()
					return
				}
				defer c.Close()
				m, err := c.Next(10 * time.Second)
				switch {
				case err != nil:
					results <- "read: " + err.Error()
				case m.Type == wire.TypeError:
					results <- m.Code
				default:
					results <- m.Type
				}
				time.Sleep(500 * time.Millisecond) // stay seated until all have answered
			})
		}
		close(start)
		wg.Wait()
		close(results)
		created := 0
		for r := range results {
			switch r {
			case wire.TypeCreated:
				created++
			case wire.CodeServerBusy:
			default:
				t.Errorf("a join got %q, want created or %s", r, wire.CodeServerBusy)
			}
		}
		if created != maxRooms {
			t.Fatalf("%d rooms created, want %d", created, maxRooms)
		}
	})
}

func TestConnectionLimitFreesOnClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		_, base := newTestHub(t, be, Config{MaxConnsPerIP: 1})
		a := wiretest.Dial(t, base+"one", nil)
		a.MustExpect(wire.TypeCreated)
		a.MustLeave()
		a.MustCloseCode()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := wiretest.Dial(t, base+"two", nil)
			if m := c.MustNext(); m.Type == wire.TypeCreated {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the slot was never released")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestAdmissionForgetsIdleAddresses(t *testing.T) {
	a := newAdmission(Config{JoinsPerIPPerMinute: 600000}.withDefaults())
	for i := range 5000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if code := a.admit(ip); code != "" {
			t.Fatalf("admit %v: %s", ip, code)
		}
		a.release(ip)
	}
	time.Sleep(10 * time.Millisecond) // budgets of 10,000/s refill at once
	if n := a.tracked(); n != 0 {
		t.Fatalf("%d idle addresses still tracked", n)
	}
}

func TestLogsHideRoomNames(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		for _, logRooms := range []bool{false, true} {
			var logs syncBuffer
			_, base := newLoggedTestHub(t, be, Config{LogRooms: logRooms}, slog.New(slog.NewTextHandler(&logs, nil)))
			c := wiretest.Dial(t, base+"secret-room", nil)
			c.MustExpect(wire.TypeCreated)
			c.MustLeave()
			c.MustCloseCode()
			time.Sleep(50 * time.Millisecond) // let "left" be logged
			if got := strings.Contains(logs.String(), "secret-room"); got != logRooms {
				t.Errorf("LogRooms=%v: room name in logs = %v:\n%s", logRooms, got, logs.String())
			}
			if !strings.Contains(logs.String(), "room=") {
				t.Errorf("no room label logged at all:\n%s", logs.String())
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
