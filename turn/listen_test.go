package turn

import (
	"testing"
)

// TestSeveralUDPSockets checks that clients spread by the kernel over the
// SO_REUSEPORT sockets of one port all get relays, and that the server
// reports one port.
func TestSeveralUDPSockets(t *testing.T) {
	s := startTURN(t, Config{UDPListeners: 4})
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
