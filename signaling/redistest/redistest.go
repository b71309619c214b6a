// Package redistest runs real redis-server processes for tests, the way
// net/http/httptest runs real HTTP servers.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is a redis-server process on 127.0.0.1, without persistence.
type Server struct {
	Port int
	cmd  *exec.Cmd
}

// Start runs a redis-server on a free port and stops it when t ends.
// Without a redis-server binary the test is skipped, except under CI=true,
// where it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Redis")
	}
	s, err := StartPort(freePort())
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Unavailable skips t for want of Redis, or fails it under CI=true.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("no Redis for this test (%v); install it with: apt-get install -y redis-server", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// StartPort runs a redis-server on port and waits until it listens.
func StartPort(port int) (*Server, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &Server{Port: port, cmd: cmd}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.Addr()); err == nil {
			c.Close()
			return s, nil
		}
	}
	s.Stop()
	return nil, fmt.Errorf("redis-server did not listen on %s", s.Addr())
}

// Addr is host:port; URL the redis:// URL of database 0.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }
func (s *Server) URL() string  { return "redis://" + s.Addr() + "/0" }

// Stop kills the server and waits for it; stopping twice is harmless.
func (s *Server) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Restart stops the server and starts a fresh, empty one on the same port.
func (s *Server) Restart() error {
	s.Stop()
	fresh, err := StartPort(s.Port)
	if err != nil {
		return err
	}
	s.cmd = fresh.cmd
	return nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
