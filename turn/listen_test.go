package turn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestSeveralUDPSockets: with four SO_REUSEPORT sockets on one port, which
// the kernel picks among by each client's address, every client gets a
// relay, and browsers are told the one port. (Which socket a client lands
// on is the kernel's hash; TestListenSocketCount checks the sockets.)
func TestSeveralUDPSockets(t *testing.T) {
	s := startTURN(t, Config{UDPListeners: 4})
	if got := udpSocketsOnPort(t, s.Port()); got != 4 {
		t.Fatalf("%d UDP sockets on port %d, want 4", got, s.Port())
	}
	for _, ice := range s.ICEServers("p", Page{}) {
		for _, u := range ice.URLs {
			if strings.HasPrefix(u, "turn:") && !strings.Contains(u, ":"+strconv.Itoa(s.Port())) {
				t.Errorf("browsers are handed %s, not the one port %d", u, s.Port())
			}
		}
	}
	user, pass := credentials(t, s, "many")
	for i := range 8 {
		relay, err := newClient(t, s, "udp", user, pass).Allocate()
		if err != nil {
			t.Fatalf("client %d: allocate: %v", i, err)
		}
		t.Cleanup(func() { _ = relay.Close() })
	}
}

func TestListenSocketCount(t *testing.T) {
	for _, n := range []int{1, 3} {
		udps, tcp, err := listen("127.0.0.1:0", n)
		if err != nil {
			t.Fatal(err)
		}
		port := tcp.Addr().String()
		for _, u := range udps {
			if u.LocalAddr().String() != port {
				t.Errorf("UDP socket on %s, TCP on %s", u.LocalAddr(), port)
			}
			u.Close()
		}
		tcp.Close()
		if len(udps) != n {
			t.Errorf("listen(_, %d) opened %d UDP sockets", n, len(udps))
		}
	}
}

// udpSocketsOnPort counts this process's IPv4 UDP sockets bound to port,
// from /proc/self/net/udp (local address in hex, "0100007F:0D96").
func udpSocketsOnPort(t *testing.T, port int) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts sockets through /proc")
	}
	data, err := os.ReadFile("/proc/self/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], suffix) {
			n++
		}
	}
	return n
}
