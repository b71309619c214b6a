package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"tandem/signaling/redistest"
	"tandem/signaling/wire"
)

// Run as "tandem" itself when asked to: the cluster tests start instances
// as child processes of the test binary, so that one can be killed.
func TestMain(m *testing.M) {
	if args, ok := strings.CutPrefix(os.Getenv("TANDEM_TEST_MAIN"), "run "); ok {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := run(ctx, strings.Fields(args), func(string) string { return "" }, os.Stderr, func(l listening) {
			fmt.Printf("listening %s %d\n", l.HTTP, l.TURN)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// clusterArgs run an instance that shares rooms through redisURL and the
// TURN secret with its siblings.
func clusterArgs(redisURL string) []string {
	return []string{"-redis", redisURL, "-turn-secret", "shared-cluster-secret"}
}

// startProcess runs an instance as a child process and returns it and its
// address; the test kills it if it is still running at the end.
func startProcess(t *testing.T, args ...string) (*exec.Cmd, testServer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=run "+strings.Join(append(append([]string{}, baseArgs...), args...), " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var httpAddr string
	var turnPort int
	if _, err := fmt.Fscanf(out, "listening %s %d\n", &httpAddr, &turnPort); err != nil {
		t.Fatalf("instance did not start: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd, testServer{URL: "http://" + httpAddr, TURNPort: turnPort}
}

// TestClusterCallAcrossInstances: the two people of a call on two instances
// find each other, their messages cross in order and without loss, a third
// on either instance gets full, and TURN credentials from one instance work
// on the other's TURN server.
func TestClusterCallAcrossInstances(t *testing.T) {
	redis := redistest.Start(t)
	a := startServer(t, clusterArgs(redis.URL())...)
	b := startServer(t, clusterArgs(redis.URL())...)

	alice := dialWS(t, a, "cross", "")
	alice.expect(wire.TypeCreated)
	bob := dialWS(t, b, "cross", "")
	joined := bob.expect(wire.TypeJoined)
	if pj := alice.expect(wire.TypePeerJoined); pj.Peer != joined.Peer {
		t.Fatalf("peer-joined %q, want %q", pj.Peer, joined.Peer)
	}

	const n = 200
	go func() {
		for i := range n {
			alice.signal(`{"n":` + strconv.Itoa(i) + `}`)
		}
	}()
	for i := range n {
		m := bob.expect(wire.TypeSignal)
		var d struct{ N int }
		if err := json.Unmarshal(m.Data, &d); err != nil || d.N != i {
			t.Fatalf("message %d arrived as %s (err %v): out of order or lost", i, m.Data, err)
		}
	}
	bob.signal(`{"back":true}`)
	if m := alice.expect(wire.TypeSignal); string(m.Data) != `{"back":true}` {
		t.Fatalf("alice got %s", m.Data)
	}

	for _, srv := range []testServer{a, b} {
		dialWS(t, srv, "cross", "").expect(wire.TypeFull)
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

// allocate makes one TURN allocation on 127.0.0.1:port.
func allocate(port int, username, password string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: "tandem",
	})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return err
	}
	relay, err := client.Allocate()
	if err != nil {
		return err
	}
	return relay.Close()
}

// TestClusterLastSeatRace: three people join one room at the same moment
// through two instances, many times over: exactly two win, every time.
func TestClusterLastSeatRace(t *testing.T) {
	redis := redistest.Start(t)
	servers := []testServer{
		startServer(t, clusterArgs(redis.URL())...),
		startServer(t, clusterArgs(redis.URL())...),
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
				c, err := wire.Dial(context.Background(), srv.wsURL("race-"+strconv.Itoa(r)), nil)
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
	survivor := startServer(t, clusterArgs(redis.URL())...)
	victim, doomed := startProcess(t, clusterArgs(redis.URL())...)

	alice := dialWS(t, survivor, "killed", "")
	alice.expect(wire.TypeCreated)
	bob := dialWS(t, doomed, "killed", "")
	bob.expect(wire.TypeJoined)
	alice.expect(wire.TypePeerJoined)

	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
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
	carol := dialWS(t, survivor, "killed", "")
	carol.expect(wire.TypeJoined)
	alice.expect(wire.TypePeerJoined)
}

// TestClusterRedisRestart: while Redis is down, joins fail fast with
// "unavailable", /readyz says 503, and calls already connected keep their
// signaling connection; once Redis is back the instance recovers by itself.
func TestClusterRedisRestart(t *testing.T) {
	redis := redistest.Start(t)
	srv := startServer(t, clusterArgs(redis.URL())...)

	alice := dialWS(t, srv, "before", "")
	alice.expect(wire.TypeCreated)
	bob := dialWS(t, srv, "before", "")
	bob.expect(wire.TypeJoined)
	alice.expect(wire.TypePeerJoined)
	// A pong comes from a connection's reader, which starts once its join
	// is done: Redis must not stop while a join is still using it (that
	// puts the client out with unavailable and 1013).
	for _, c := range []*wsClient{alice, bob} {
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.expect(wire.TypePong)
	}

	redis.Stop()
	start := time.Now()
	late := dialWS(t, srv, "during", "")
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
	if _, body := get(t, srv.URL+"/healthz"); body != `{"status":"degraded","rooms":"unavailable"}` {
		t.Errorf("/healthz while Redis is down: %s", body)
	}
	// The people already in a call are still connected to the server,
	// which still answers them.
	if err := alice.Ping(); err != nil {
		t.Fatalf("alice lost her connection: %v", err)
	}
	alice.expect(wire.TypePong)

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
	carol := dialWS(t, srv, "after", "")
	carol.expect(wire.TypeCreated)
	dave := dialWS(t, srv, "after", "")
	dave.expect(wire.TypeJoined)
	carol.expect(wire.TypePeerJoined)
	dave.signal(`{"ok":1}`)
	if m := carol.expect(wire.TypeSignal); string(m.Data) != `{"ok":1}` {
		t.Fatalf("carol got %s", m.Data)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
