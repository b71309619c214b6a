package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestCounts: allocations are counted by transport, live and in all;
// refused credentials are counted; so are the bytes relayed each way.
func TestCounts(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	user, pass := credentials(t, s, "counted")
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	udpRelay, err := newClient(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	tcpRelay, err := newClient(t, s, "tcp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(t, s, "udp", user, "wrong-password").Allocate(); err == nil {
		t.Fatal("allocated with a wrong password")
	}
	// 100 bytes to the peer and 40 back.
	if _, err := udpRelay.WriteTo(make([]byte, 100), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := peer.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo(make([]byte, 40), udpRelay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = udpRelay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := udpRelay.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}

	// A forbidden peer (outside AllowPeers, private): the permission is refused.
	_, _ = udpRelay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9})

	c := s.Counts()
	if c.Allocations[TransportUDP] != 1 || c.Allocations[TransportTCP] != 1 || c.AllocationsTotal[TransportUDP] != 1 {
		t.Errorf("allocations %v, in all %v; want one over UDP and one over TCP", c.Allocations, c.AllocationsTotal)
	}
	if c.AuthFailures == 0 {
		t.Error("the wrong password was not counted")
	}
	if c.PeerRefusals != 1 {
		t.Errorf("%d peer refusals, want the one to 10.0.0.1", c.PeerRefusals)
	}
	if c.RelayedToPeer != 100 || c.RelayedToClient != 40 {
		t.Errorf("relayed %d bytes to the peer and %d back, want 100 and 40", c.RelayedToPeer, c.RelayedToClient)
	}
	_ = tcpRelay.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Counts().Allocations[TransportTCP] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a closed allocation still counted live: %v", s.Counts().Allocations)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.Counts().AllocationsTotal[TransportTCP]; got != 1 {
		t.Errorf("TCP allocations in all: %d, want 1", got)
	}
}
