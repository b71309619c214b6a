package turn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBatchReader sends bursts larger than a batch to a real socket and
// reads them back through a listenerConn: every datagram whole and in
// order, with its source; one too long for the reader's buffer truncated
// as ReadFrom truncates; then deadlines and Close end the reads.
func TestBatchReader(t *testing.T) {
	for _, network := range []struct{ name, addr string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(network.name, func(t *testing.T) {
			listen := func() *net.UDPConn {
				c, err := net.ListenUDP(network.name, &net.UDPAddr{IP: net.ParseIP(network.addr)})
				if err != nil {
					t.Skipf("no %s loopback: %v", network.name, err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			u := listen()
			l := newListenerConn(u)
			if l.batch == nil {
				t.Fatal("no batched reads on Linux")
			}
			senders := []*net.UDPConn{listen(), listen()}
			sizes := []int{0, 1, 1200, 1599, 1600, 3000, 7, 2*listenerBatch + 1}
			for round := range 3 { // more than a batch each round
				var sent [][]byte
				for i := range 2*listenerBatch + 3 {
					p := bytes.Repeat([]byte{byte(round*64 + i)}, sizes[i%len(sizes)])
					if _, err := senders[i%2].WriteTo(p, u.LocalAddr()); err != nil {
						t.Fatal(err)
					}
					sent = append(sent, p)
				}
				buf := make([]byte, 1600)
				for i, want := range sent {
					n, from, err := l.ReadFrom(buf)
					if err != nil {
						t.Fatal(err)
					}
					if len(want) > len(buf) {
						want = want[:len(buf)]
					}
					if !bytes.Equal(buf[:n], want) {
						t.Errorf("round %d, datagram %d: read %d bytes, want %d", round, i, n, len(want))
					}
					if from.String() != senders[i%2].LocalAddr().String() {
						t.Errorf("round %d, datagram %d: from %s, want %s", round, i, from, senders[i%2].LocalAddr())
					}
				}
			}
			_ = l.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := l.ReadFrom(make([]byte, 1600)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read past the deadline: %v", err)
			}
			_ = l.SetReadDeadline(time.Time{})
			done := make(chan error)
			go func() {
				_, _, err := l.ReadFrom(make([]byte, 1600))
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			_ = l.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("read on a closed socket: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not end a blocked read")
			}
		})
	}
}

func TestSockaddrAddrPort(t *testing.T) {
	for _, want := range []string{
		"127.0.0.1:3478",
		"198.51.100.7:65535",
		"[2001:db8::1]:1",
		"[fe80::1%7]:3478",
	} {
		ap := netip.MustParseAddrPort(want)
		var raw unixSockaddr
		n := raw.set(ap)
		if got := sockaddrAddrPort(&raw.RawSockaddrInet6, n); got != ap {
			t.Errorf("sockaddr of %s decodes to %s", want, got)
		}
	}
}

// unixSockaddr is a sockaddr as the kernel writes it, for tests.
type unixSockaddr struct{ unix.RawSockaddrInet6 }

func (s *unixSockaddr) set(ap netip.AddrPort) uint32 {
	if ap.Addr().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.RawSockaddrInet6))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = ap.Addr().As4()
		return unix.SizeofSockaddrInet4
	}
	s.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.Port))[:], ap.Port())
	s.Addr = ap.Addr().As16()
	if z := ap.Addr().Zone(); z != "" {
		id, _ := strconv.Atoi(z)
		s.Scope_id = uint32(id)
	}
	return unix.SizeofSockaddrInet6
}
