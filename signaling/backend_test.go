package signaling

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// backend is a room store every signaling test runs against: one suite,
// two stores.
type backend struct {
	name     string
	newStore func(t *testing.T) Store
}

// eachBackend runs test once per store: memory, and Redis. Without a Redis
// server the Redis run is skipped, except under CI=true, where it fails.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range []backend{
		{"memory", func(*testing.T) Store { return NewMemoryStore() }},
		{"redis", newTestRedisStore},
	} {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// newTestRedisStore connects to the test Redis, emptied for this test.
func newTestRedisStore(t *testing.T) Store {
	t.Helper()
	url := testRedisURL(t)
	opts, _ := redis.ParseURL(url)
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush test redis: %v", err)
	}
	s, err := NewRedisStore(context.Background(), url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testRedis is the Redis server of this test binary: TANDEM_TEST_REDIS when
// set (CI starts one), else a redis-server started here on a free port.
var testRedis struct {
	once sync.Once
	url  string
	err  error
	proc *redisServer
}

func testRedisURL(t *testing.T) string {
	t.Helper()
	testRedis.once.Do(func() {
		if url := os.Getenv("TANDEM_TEST_REDIS"); url != "" {
			testRedis.url = url
			return
		}
		testRedis.proc, testRedis.err = startRedisServer(freeTCPPort())
		if testRedis.err == nil {
			testRedis.url = testRedis.proc.url()
		}
	})
	if testRedis.err != nil {
		msg := fmt.Sprintf("no Redis for the Redis-backed tests (%v); install it with: apt-get install -y redis-server", testRedis.err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return testRedis.url
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testRedis.proc != nil {
		testRedis.proc.stop()
	}
	os.Exit(code)
}

// redisServer is a real redis-server process on 127.0.0.1, without
// persistence.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func startRedisServer(port int) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{port: port, cmd: cmd}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr()); err == nil {
			c.Close()
			return r, nil
		}
	}
	r.stop()
	return nil, fmt.Errorf("redis-server did not listen on %s", r.addr())
}

func (r *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

// stop kills the server and waits for it.
func (r *redisServer) stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

func freeTCPPort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
