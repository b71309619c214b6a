package turn

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// channelClient is a raw TURN client over UDP with one allocation and a
// peer socket of its own on 127.0.0.3 (an address the tests allow).
type channelClient struct {
	*rawClient
	relay netip.AddrPort
	peer  *net.UDPConn
}

func newChannelClient(t testing.TB, s *Server, name string) *channelClient {
	t.Helper()
	user, pass := credentials(t, s, name)
	c := &channelClient{rawClient: newRawClient(t, s, user, pass)}
	c.login()
	res := c.do(stun.MethodAllocate, requestedTransport(17))
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		t.Fatalf("allocate: %v (error %d)", err, errorCode(res))
	}
	ip, _ := netip.AddrFromSlice(relayed.IP)
	c.relay = netip.AddrPortFrom(ip.Unmap(), uint16(relayed.Port))
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c.peer = peer
	return c
}

// bind binds channel number to the client's peer socket.
func (c *channelClient) bind(number uint16) {
	c.t.Helper()
	pa := c.peer.LocalAddr().(*net.UDPAddr)
	res := c.do(stun.MethodChannelBind, peer(pa.IP.String(), pa.Port),
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(number >> 8), byte(number), 0, 0}})
	if code := errorCode(res); code != 0 {
		c.t.Fatalf("channel bind %#x: error %d", number, code)
	}
}

// send sends a raw datagram to the TURN port.
func (c *channelClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteTo(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// fromPeer sends a datagram from the peer socket to the relay.
func (c *channelClient) fromPeer(b []byte) {
	c.t.Helper()
	if _, err := c.peer.WriteToUDPAddrPort(b, c.relay); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next datagram on conn within wait, or nil.
func read(conn net.PacketConn, wait time.Duration) []byte {
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func channelData(number uint16, data string) []byte {
	b := binary.BigEndian.AppendUint16(nil, number)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// paddedChannelData is channelData as pion writes it: padded to 4 bytes.
func paddedChannelData(number uint16, data string) []byte {
	b := channelData(number, data)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// TestDataPlaneRelaysChannels: ChannelData between a UDP client and its
// bound peer crosses the relay both ways, through the data plane's mirror
// of pion's bindings, byte for byte as pion would frame it; what the
// mirror does not know still reaches pion.
func TestDataPlaneRelaysChannels(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)

	for _, data := range []string{"p", "pi", "pin", "ping", "hello peer"} {
		c.send(channelData(0x4001, data))
		if got := read(c.peer, 2*time.Second); string(got) != data {
			t.Fatalf("peer read %q, want %q", got, data)
		}
		c.fromPeer([]byte(data))
		if got, want := read(c.conn, 2*time.Second), paddedChannelData(0x4001, data); !bytes.Equal(got, want) {
			t.Fatalf("client read % x, want % x", got, want)
		}
	}
	r := (*s.channels.clients.Load())[netip.MustParseAddrPort(c.conn.LocalAddr().String())]
	if r == nil || r.port != c.relay.Port() {
		t.Fatalf("the mirror has no relay for the client, or the wrong one: %v", r)
	}
	if _, ok := r.channel(0x4001); !ok {
		t.Fatal("the mirror lacks the bound channel")
	}

	// A second peer with a permission but no channel gets a Data
	// indication: pion's path, behind the data plane.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	op := other.LocalAddr().(*net.UDPAddr)
	if code := errorCode(c.do(stun.MethodCreatePermission, peer(op.IP.String(), op.Port))); code != 0 {
		t.Fatalf("create permission: error %d", code)
	}
	if _, err := other.WriteToUDPAddrPort([]byte("via pion"), c.relay); err != nil {
		t.Fatal(err)
	}
	msg := &stun.Message{Raw: read(c.conn, 2*time.Second)}
	if err := msg.Decode(); err != nil || msg.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		t.Fatalf("want a Data indication, got % x (%v)", msg.Raw, err)
	}
	if v, err := msg.Get(stun.AttrData); err != nil || string(v) != "via pion" {
		t.Fatalf("Data indication carries %q (%v)", v, err)
	}
}

// TestDataPlaneRefusesWhatPionRefuses sends what a client may get wrong or
// try on purpose: none of it reaches the peer, and the channel still works
// afterwards.
func TestDataPlaneRefusesWhatPionRefuses(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)
	stranger := newChannelClient(t, s, "mallory") // has an allocation, not this channel
	for _, tc := range []struct {
		name string
		from *channelClient
		b    []byte
	}{
		{"unbound channel", c, channelData(0x4002, "x")},
		{"channel number under the range", c, channelData(0x3fff, "x")},
		{"channel number over the range", c, channelData(0x8001, "x")},
		{"length past the datagram", c, channelData(0x4001, "xy")[:5]},
		{"header only, length 8", c, []byte{0x40, 0x01, 0, 8}},
		{"three bytes", c, []byte{0x40, 0x01, 0}},
		{"1,600 bytes, which pion drops as truncated", c, channelData(0x4001, string(make([]byte, 1596)))},
		{"another client's channel", stranger, channelData(0x4001, "x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.send(tc.b)
			if got := read(c.peer, 200*time.Millisecond); got != nil {
				t.Fatalf("peer read %q", got)
			}
			c.send(channelData(0x4001, "still here"))
			if got := read(c.peer, 2*time.Second); string(got) != "still here" {
				t.Fatalf("afterwards the peer read %q", got)
			}
		})
	}
}

// TestDataPlaneKeepsPionsLifetimes: a channel binding lives as long as pion
// keeps it. Refreshed, it outlives its lifetime; left alone, it expires,
// and then neither way relays, as with pion alone. A permission without a
// channel (Send and Data indications, pion's path) expires alike.
func TestDataPlaneKeepsPionsLifetimes(t *testing.T) {
	const lifetime = 600 * time.Millisecond
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, channelLifetime: lifetime})
	refreshed, idle := newChannelClient(t, s, "refreshed"), newChannelClient(t, s, "idle")
	refreshed.bind(0x4001)
	idle.bind(0x4001)
	permitted := newChannelClient(t, s, "permitted")
	pa := permitted.peer.LocalAddr().(*net.UDPAddr)
	if code := errorCode(permitted.do(stun.MethodCreatePermission, peer(pa.IP.String(), pa.Port))); code != 0 {
		t.Fatalf("create permission: error %d", code)
	}
	permitted.fromPeer([]byte("early"))
	if got := read(permitted.conn, 2*time.Second); got == nil {
		t.Fatal("no Data indication while the permission lives")
	}
	for range 3 {
		time.Sleep(lifetime / 2)
		refreshed.bind(0x4001)
	}
	// 900 ms since the bindings: the idle one is gone, the other not.
	for _, tc := range []struct {
		c    *channelClient
		live bool
	}{{refreshed, true}, {idle, false}} {
		tc.c.send(channelData(0x4001, "to peer"))
		got := read(tc.c.peer, 300*time.Millisecond)
		tc.c.fromPeer([]byte("to client"))
		back := read(tc.c.conn, 300*time.Millisecond)
		if tc.live && (string(got) != "to peer" || !bytes.Equal(back, paddedChannelData(0x4001, "to client"))) {
			t.Errorf("%s: refreshed binding: peer read %q, client % x", tc.c.user, got, back)
		}
		if !tc.live && (got != nil || back != nil) {
			t.Errorf("%s: expired binding still relays: peer read %q, client % x", tc.c.user, got, back)
		}
	}
	permitted.fromPeer([]byte("late"))
	if got := read(permitted.conn, 300*time.Millisecond); got != nil {
		t.Errorf("expired permission: client read % x", got)
	}
}

// TestDataPlaneCapsBitrate: the bitrate cap holds on the data plane's
// path, in both directions.
func TestDataPlaneCapsBitrate(t *testing.T) {
	const bitrate = 2_000_000 // 250 KB/s, burst 64 KiB
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, MaxBitrate: bitrate})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)
	payload := string(make([]byte, 1000))
	for _, dir := range []struct {
		name string
		send func()
		recv net.PacketConn
	}{
		{"to peer", func() { c.send(channelData(0x4001, payload)) }, c.peer},
		{"to client", func() { c.fromPeer([]byte(payload)) }, c.conn},
	} {
		t.Run(dir.name, func(t *testing.T) {
			start := time.Now()
			for range 2000 { // 2 MB, as fast as possible
				dir.send()
			}
			got := 0
			for b := read(dir.recv, 300*time.Millisecond); b != nil; b = read(dir.recv, 300*time.Millisecond) {
				got += len(b)
			}
			elapsed := time.Since(start)
			budget := 64<<10 + int(elapsed.Seconds()*bitrate/8) + 2000*4 // headers to the client
			t.Logf("relayed %d of 2,000,000 bytes in %v (budget %d)", got, elapsed.Round(time.Millisecond), budget)
			if got > budget || got == 0 {
				t.Fatalf("relayed %d bytes, want some and at most %d", got, budget)
			}
		})
	}
	if d := s.Dropped(); d["bitrate-out"] == 0 || d["bitrate-in"] == 0 {
		t.Errorf("drops not counted: %v", d)
	}
}

// TestDataPlaneForgetsClosedRelays: when an allocation goes (a Refresh to
// lifetime 0), the mirror forgets its relay, client and bindings.
func TestDataPlaneForgetsClosedRelays(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)
	if code := errorCode(c.do(stun.MethodRefresh, stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}})); code != 0 {
		t.Fatalf("refresh to 0: error %d", code)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(*s.channels.clients.Load()) > 0 || relayCount(s) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror still holds %d clients, %d relays", len(*s.channels.clients.Load()), relayCount(s))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.send(channelData(0x4001, "after"))
	if got := read(c.peer, 200*time.Millisecond); got != nil {
		t.Fatalf("peer read %q after the allocation went", got)
	}
}

func relayCount(s *Server) int {
	s.channels.mu.Lock()
	defer s.channels.mu.Unlock()
	return len(s.channels.relays)
}

// TestChannelEventsOfAnotherClient: pion's events name the client; those
// of an allocation whose relay port another client's relay now has (the
// first closed at its maximum lifetime, and pion not yet told) leave the
// new relay's bindings alone.
func TestChannelEventsOfAnotherClient(t *testing.T) {
	c := newChannels()
	r := &guardedConn{port: 50000}
	c.addRelay(r)
	relay := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 10), Port: 50000}
	owner := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}
	stale := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 8), Port: 40000}
	peerA := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}
	c.allocated(owner, relay)
	c.bound(owner, relay, peerA, 0x4000)
	for _, tc := range []struct {
		name  string
		event func()
	}{
		{"a binding", func() { c.bound(stale, relay, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 5000}, 0x4001) }},
		{"a binding on the same number", func() { c.bound(stale, relay, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 5000}, 0x4000) }},
		{"an unbinding", func() { c.unbound(stale, relay, 0x4000) }},
		{"from a TCP client", func() { c.unbound(&net.TCPAddr{IP: owner.IP, Port: owner.Port}, relay, 0x4000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.event()
			bound := *r.bound.Load()
			if len(bound) != 1 || bound[0].number != 0x4000 || bound[0].peer != netip.MustParseAddrPort("192.0.2.1:5000") {
				t.Fatalf("bindings %v, want only 0x4000 to %s", bound, peerA)
			}
		})
	}
}

// TestDataPlaneLeavesLargeDatagramsToPion: a peer's datagram of pion's
// read size or more is framed by pion, truncated as before.
func TestDataPlaneLeavesLargeDatagramsToPion(t *testing.T) {
	s := startTURN(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)
	c.fromPeer(make([]byte, 1700))
	got := read(c.conn, 2*time.Second)
	if len(got) != 4+pionRelayMTU || binary.BigEndian.Uint16(got[2:4]) != pionRelayMTU {
		t.Fatalf("client read %d bytes, want pion's %d-byte frame", len(got), 4+pionRelayMTU)
	}
}

// TestDataPlaneDualStackListener: on the default address (all interfaces)
// the TURN port is one IPv6 socket that IPv4 clients reach as
// IPv4-mapped addresses; the data plane answers them in that form.
func TestDataPlaneDualStackListener(t *testing.T) {
	s := startTURN(t, Config{Addr: ":0", AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	c := newChannelClient(t, s, "alice")
	c.bind(0x4001)
	c.send(channelData(0x4001, "over v4"))
	if got := read(c.peer, 2*time.Second); string(got) != "over v4" {
		t.Fatalf("peer read %q", got)
	}
	c.fromPeer([]byte("back"))
	if got, want := read(c.conn, 2*time.Second), paddedChannelData(0x4001, "back"); !bytes.Equal(got, want) {
		t.Fatalf("client read % x, want % x", got, want)
	}
}
