package signaling

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"tandem/signaling/redistest"
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
	proc *redistest.Server
}

func testRedisURL(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Redis")
	}
	testRedis.once.Do(func() {
		if url := os.Getenv("TANDEM_TEST_REDIS"); url != "" {
			testRedis.url = url
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			testRedis.err = err
			return
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		testRedis.proc, testRedis.err = redistest.StartPort(port)
		if testRedis.err == nil {
			testRedis.url = testRedis.proc.URL()
		}
	})
	if testRedis.err != nil {
		redistest.Unavailable(t, testRedis.err)
	}
	return testRedis.url
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testRedis.proc != nil {
		testRedis.proc.Stop()
	}
	os.Exit(code)
}
