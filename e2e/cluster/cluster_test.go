package cluster

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/e2e/harness"
	"tandem/signaling/redistest"
	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// clusterArgs run an instance that shares rooms through redisURL and the
// TURN secret with its siblings.
func clusterArgs(redisURL string) []string {
	return []string{"-redis", redisURL, "-turn-secret", "shared-cluster-secret"}
}

// TestClusterCallAcrossInstances: the two people of a call on two instances
// find each other, their messages cross in order and without loss, a third
// on either instance gets full, and TURN credentials from one instance work
// on the other's TURN server.
func TestClusterCallAcrossInstances(t *testing.T) {
	redis := redistest.Start(t)
	a := tandem.StartServer(t, clusterArgs(redis.URL())...)
	b := tandem.StartServer(t, clusterArgs(redis.URL())...)

	alice := wiretest.Dial(t, a.WSURL("cross"), nil)
	alice.MustExpect(wire.TypeCreated)
	bob := wiretest.Dial(t, b.WSURL("cross"), nil)
	joined := bob.MustExpect(wire.TypeJoined)
	if pj := alice.MustExpect(wire.TypePeerJoined); pj.Peer != joined.Peer {
		t.Fatalf("peer-joined %q, want %q", pj.Peer, joined.Peer)
	}

	const n = 200
	go func() {
		for i := range n {
			alice.MustSignal(`{"n":` + strconv.Itoa(i) + `}`)
		}
	}()
	for i := range n {
		m := bob.MustExpect(wire.TypeSignal)
		var d struct{ N int }
		if err := json.Unmarshal(m.Data, &d); err != nil || d.N != i {
			t.Fatalf("message %d arrived as %s (err %v): out of order or lost", i, m.Data, err)
		}
	}
	bob.MustSignal(`{"back":true}`)
	if m := alice.MustExpect(wire.TypeSignal); string(m.Data) != `{"back":true}` {
		t.Fatalf("alice got %s", m.Data)
	}

	for _, srv := range []*harness.Server{a, b} {
		wiretest.Dial(t, srv.WSURL("cross"), nil).MustExpect(wire.TypeFull)
	}

	// A's credentials, B's TURN server.
	var username, password string
	for _, ice := range joined.ICEServers {
		if ice.Username != "" {
			username, password = ice.Username, ice.Credential
		}
	}
	if err := allocate(b.TURNPort, username, password); err != nil {
		t.Fatalf("credentials from instance A refused by instance B's TURN: %v", err)
	}
}

// allocate makes one TURN allocation over UDP on 127.0.0.1:port.
func allocate(port int, username, password string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	return harness.Allocate(conn, "127.0.0.1:"+strconv.Itoa(port), username, password)
}

// TestClusterLastSeatRace: three people join one room at the same moment
// through two instances, many times over: exactly two win, every time.
func TestClusterLastSeatRace(t *testing.T) {
	redis := redistest.Start(t)
	servers := []*harness.Server{
		tandem.StartServer(t, clusterArgs(redis.URL())...),
		tandem.StartServer(t, clusterArgs(redis.URL())...),
	}
	const rooms = 60
	var wg sync.WaitGroup
	results := make([][3]string, rooms)
	for r := range rooms {
		for j := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv := servers[(r+j)%2]
				c, err := wire.Dial(context.Background(), srv.WSURL("race-"+strconv.Itoa(r)), nil)
				if err != nil {
					results[r][j] = "dial: " + err.Error()
					return
				}
				defer c.Close()
				m, err := c.Next(10 * time.Second)
				if err != nil {
					results[r][j] = "read: " + err.Error()
					return
				}
				results[r][j] = m.Type
				if m.Type != wire.TypeFull {
					// Stay seated until everyone has answered.
					time.Sleep(500 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	for r, got := range results {
		seated, full := 0, 0
		for _, typ := range got {
			switch typ {
			case wire.TypeCreated, wire.TypeJoined:
				seated++
			case wire.TypeFull:
				full++
			}
		}
		if seated != 2 || full != 1 {
			t.Errorf("room %d: %v, want two seated and one full", r, got)
		}
	}
}

// TestClusterInstanceKilled: when an instance dies (kill -9), its people's
// seats expire, their partners on other instances get peer-left within 30 s,
// and the room is free again.
func TestClusterInstanceKilled(t *testing.T) {
	redis := redistest.Start(t)
	survivor := tandem.StartServer(t, clusterArgs(redis.URL())...)
	doomed := tandem.StartServer(t, clusterArgs(redis.URL())...)

	alice := wiretest.Dial(t, survivor.WSURL("killed"), nil)
	alice.MustExpect(wire.TypeCreated)
	bob := wiretest.Dial(t, doomed.WSURL("killed"), nil)
	bob.MustExpect(wire.TypeJoined)
	alice.MustExpect(wire.TypePeerJoined)

	doomed.Kill()
	start := time.Now()
	m, err := alice.Next(35 * time.Second)
	if err != nil || m.Type != wire.TypePeerLeft {
		t.Fatalf("after the kill alice got %+v, %v; want peer-left", m, err)
	}
	took := time.Since(start)
	t.Logf("peer-left %v after kill -9", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Fatalf("peer-left after %v, want within 30s", took)
	}
	carol := wiretest.Dial(t, survivor.WSURL("killed"), nil)
	carol.MustExpect(wire.TypeJoined)
	alice.MustExpect(wire.TypePeerJoined)
}

// TestClusterRedisRestart: while Redis is down, joins fail fast with
// "unavailable", /readyz says 503, and calls already connected keep their
// signaling connection; once Redis is back the instance recovers by itself.
func TestClusterRedisRestart(t *testing.T) {
	redis := redistest.Start(t)
	srv := tandem.StartServer(t, clusterArgs(redis.URL())...)

	alice := wiretest.Dial(t, srv.WSURL("before"), nil)
	alice.MustExpect(wire.TypeCreated)
	bob := wiretest.Dial(t, srv.WSURL("before"), nil)
	bob.MustExpect(wire.TypeJoined)
	alice.MustExpect(wire.TypePeerJoined)
	// A pong comes from a connection's reader, which starts once its join
	// is done: Redis must not stop while a join is still using it (that
	// puts the client out with unavailable and 1013).
	for _, c := range []*wiretest.Client{alice, bob} {
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.MustExpect(wire.TypePong)
	}

	redis.Stop()
	start := time.Now()
	late := wiretest.Dial(t, srv.WSURL("during"), nil)
	m, err := late.Next(5 * time.Second)
	if err != nil || m.Type != wire.TypeError || m.Code != wire.CodeUnavailable {
		t.Fatalf("join while Redis is down: %+v, %v; want error unavailable", m, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("join failed after %v; it must fail fast", took)
	}
	if code := httpStatus(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while Redis is down: %d, want 503", code)
	}
	if code := httpStatus(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while Redis is down: %d, want 200", code)
	}
	// The public answer says what, not where: Redis's address stays in the log.
	var health struct{ Status, Rooms, Version string }
	if _, body := harness.Get(t, srv.URL+"/healthz"); json.Unmarshal([]byte(body), &health) != nil ||
		health.Status != "degraded" || health.Rooms != "unavailable" || health.Version == "" || strings.Contains(body, "127.0.0.1") {
		t.Errorf("/healthz while Redis is down: %s", body)
	}
	// The people already in a call are still connected to the server,
	// which still answers them.
	if err := alice.Ping(); err != nil {
		t.Fatalf("alice lost her connection: %v", err)
	}
	alice.MustExpect(wire.TypePong)

	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for httpStatus(t, srv.URL+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	carol := wiretest.Dial(t, srv.WSURL("after"), nil)
	carol.MustExpect(wire.TypeCreated)
	dave := wiretest.Dial(t, srv.WSURL("after"), nil)
	dave.MustExpect(wire.TypeJoined)
	carol.MustExpect(wire.TypePeerJoined)
	dave.MustSignal(`{"ok":1}`)
	if m := carol.MustExpect(wire.TypeSignal); string(m.Data) != `{"ok":1}` {
		t.Fatalf("carol got %s", m.Data)
	}
}

// httpStatus is the status of a GET of url.
func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, _ := harness.Get(t, url)
	return resp.StatusCode
}
