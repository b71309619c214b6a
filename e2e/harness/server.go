package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LoopbackArgs run a server on free loopback ports. The TURN relay is
// announced on 127.0.0.2 so that 127.0.0.1 stays a forbidden peer, as any
// loopback address is for a real deployment. The info level logs the line
// Start reads the ports from.
var LoopbackArgs = []string{
	"-addr", "127.0.0.1:0",
	"-turn-addr", "127.0.0.1:0",
	"-turn-public-ip", "127.0.0.2",
	"-turn-relay-ports", "61000-61999", // above the ephemeral range that :0 picks from
	"-log-level", "info",
}

// startTimeout bounds a server's start and its graceful stop.
const startTimeout = 15 * time.Second

// Server is a tandem process.
type Server struct {
	URL         string // http://HOST:PORT, or https://
	Addr        string // HOST:PORT of the web port
	TURNPort    int    // UDP and TCP
	TURNTLSPort int    // 0 when off
	PlainHTTP   int    // port of -http-addr; 0 when off
	MetricsPort int    // port of -metrics-addr; 0 when off
	Logs        *LogBuffer

	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // written before exited is closed
}

// StartServer runs tandem with LoopbackArgs plus extra flags (later flags
// win) and stops it when t ends.
func (bin Binary) StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin.need(t)
	args := append(append([]string{}, LoopbackArgs...), extra...)
	return StartCommand(t, exec.Command(string(bin), args...))
}

// StartCommand starts cmd, a tandem prepared by the caller (run inside a
// network namespace, say), and waits until it says where it listens; it
// must log at the info level. Its environment is the test's without any
// TANDEM_* variable, unless cmd.Env is set. The process is stopped
// (SIGTERM, then SIGKILL) when t ends, and its log shown if t failed.
func StartCommand(t testing.TB, cmd *exec.Cmd) *Server {
	t.Helper()
	if err := statSources(); err != nil {
		t.Fatal(err)
	}
	if cmd.Env == nil {
		cmd.Env = environWithout("TANDEM_")
	}
	s := &Server{Logs: &LogBuffer{}, t: t, cmd: cmd, exited: make(chan struct{})}
	// Not cmd.StderrPipe: its reader must be drained before Wait, which
	// here runs at once. exec copies into a plain writer until the process
	// ends, and Wait waits for that copy.
	logr, logw := io.Pipe()
	cmd.Stdout, cmd.Stderr = s.Logs, logw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tandem: %v", err)
	}
	up := make(chan listening, 1)
	go s.readLog(logr, up)
	go func() {
		s.waitErr = cmd.Wait()
		logw.Close() // ends readLog
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("tandem's log (%s):\n%s", strings.Join(cmd.Args, " "), s.Logs.Tail())
		}
	})

	select {
	case l := <-up:
		s.Addr, s.TURNPort, s.TURNTLSPort, s.PlainHTTP, s.MetricsPort = l.http, l.turn, l.turnTLS, l.plainHTTP, l.metrics
		s.URL = "http://" + l.http
		if l.tls {
			s.URL = "https://" + l.http
		}
		return s
	case <-s.exited:
		t.Fatalf("tandem exited before it listened: %v; log:\n%s", s.waitErr, s.Logs.Tail())
	case <-time.After(startTimeout):
		t.Fatalf("tandem did not listen within %v; log:\n%s", startTimeout, s.Logs.Tail())
	}
	return nil
}

// listening is what the server's "listening" log line says.
type listening struct {
	http                              string
	tls                               bool
	turn, turnTLS, plainHTTP, metrics int
}

// readLog copies the server's log into s.Logs and sends its "listening"
// line, parsed, on up.
func (s *Server) readLog(r io.Reader, up chan<- listening) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(s.Logs, line)
		if l, ok := parseListening(line); ok && !sent {
			up <- l
			sent = true
		}
	}
}

// parseListening reads slog's text form of the server's listening line:
// "time=… level=INFO msg=listening version=devel http=127.0.0.1:8080 tls=false turn=3478
// turn_tls=0 plain_http=0".
func parseListening(line string) (listening, bool) {
	kv := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	if kv["msg"] != "listening" || kv["http"] == "" {
		return listening{}, false
	}
	turn, err1 := strconv.Atoi(kv["turn"])
	turnTLS, err2 := strconv.Atoi(kv["turn_tls"])
	plainHTTP, err3 := strconv.Atoi(kv["plain_http"])
	if err1 != nil || err2 != nil || err3 != nil {
		return listening{}, false
	}
	metrics, _ := strconv.Atoi(kv["metrics"]) // absent: off
	return listening{http: kv["http"], tls: kv["tls"] == "true", turn: turn, turnTLS: turnTLS, plainHTTP: plainHTTP, metrics: metrics}, true
}

// Stop shuts the server down as SIGTERM does and checks that it exits
// cleanly in time; stopping twice, or after Kill, is harmless.
func (s *Server) Stop() {
	s.t.Helper()
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.waitErr != nil {
			s.t.Errorf("tandem exited with %v", s.waitErr)
		}
	case <-time.After(startTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("tandem did not shut down within %v; killed", startTimeout)
	}
}

// Kill ends the server at once, as kill -9 does, and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// RoomURL is the link to room, with query (relay=1, …) when not empty.
func (s *Server) RoomURL(room, query string) string {
	u := s.URL + "/r/" + room
	if query != "" {
		u += "?" + query
	}
	return u
}

// WSURL is the signaling URL of room.
func (s *Server) WSURL(room string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws/" + room
}

// FreePort returns a port free on 127.0.0.1 for TCP and UDP right now, for
// a server that must come back on the same ports.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// environWithout is the test's environment without variables that start
// with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
