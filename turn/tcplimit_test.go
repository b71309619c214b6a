package turn

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// acceptAll serves l's Accept on a goroutine and hands out what it admits.
func acceptAll(t *testing.T, l *tcpListener) <-chan net.Conn {
	t.Helper()
	admitted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(admitted)
				return
			}
			admitted <- c
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return admitted
}

func listenTCP(t *testing.T, perIP, total int) *tcpListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newTCPListener(ln, newTCPLimits(perIP, total), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// closedByServer reports whether the server closed c within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// How long to wait for a close that should come (it comes at once, but
// the machine may be busy), and for one that should not.
const (
	closeExpected   = 5 * time.Second
	closeUnexpected = 200 * time.Millisecond
)

func dial(t *testing.T, l *tcpListener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Connections over the per-address or the total limit are closed at once;
// a closed connection frees its place.
func TestTCPListenerLimits(t *testing.T) {
	for _, tt := range []struct {
		name         string
		perIP, total int
	}{{"per address", 2, 0}, {"in all", 0, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			l := listenTCP(t, tt.perIP, tt.total)
			admitted := acceptAll(t, l)
			dial(t, l)
			dial(t, l)
			first, second := <-admitted, <-admitted
			if third := dial(t, l); !closedByServer(third, closeExpected) {
				t.Fatal("a third connection was kept")
			}
			_ = first.Close()
			fourth := dial(t, l)
			if closedByServer(fourth, closeUnexpected) {
				t.Fatal("no place was freed by closing a connection")
			}
			_ = second.Close()
		})
	}
}

// A connection that never speaks is closed after firstRequest; one that
// has spoken, after idle. (Deadlines never fire early, but may fire late
// on a busy machine: the bounds are one-sided where they can be.)
func TestTCPConnDeadlines(t *testing.T) {
	l := listenTCP(t, 0, 0)
	l.firstRequest, l.idle = 50*time.Millisecond, time.Hour
	admitted := acceptAll(t, l)
	dial(t, l)
	silent := <-admitted
	start := time.Now()
	if _, err := silent.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection: read %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("silent connection waited %v, want firstRequest (50ms), not idle", took)
	}

	l = listenTCP(t, 0, 0)
	l.firstRequest, l.idle = 50*time.Millisecond, 300*time.Millisecond
	admitted = acceptAll(t, l)
	client := dial(t, l)
	talker := <-admitted
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := talker.Read(make([]byte, 16)); n != 5 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	start = time.Now()
	if _, err := talker.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection: read %v, want a timeout", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("a connection that spoke was given only %v, want the idle time (300ms)", took)
	}
}

// The server's TCP port applies the per-address limit, and a connection
// over it is closed before pion reads a byte.
func TestServerTCPPerAddressLimit(t *testing.T) {
	s := startTURN(t, Config{MaxAllocsPerIP: 2})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	var kept []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		kept = append(kept, c)
	}
	if closedByServer(kept[0], closeUnexpected) || closedByServer(kept[1], closeUnexpected) {
		t.Fatal("a connection within the limit was closed")
	}
	if !closedByServer(kept[2], closeExpected) {
		t.Fatal("a third connection from one address was kept")
	}
}
