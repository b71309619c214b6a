//go:build !linux

package turn

import (
	"net"
	"net/netip"
	"sync"
)

// dataPlane, where there is no epoll, reads each socket with a goroutine
// of its own; frames for clients leave from the first listener socket.
type dataPlane struct {
	listener *udpSocket
	wg       sync.WaitGroup
}

func newDataPlane(listeners []*udpSocket) (*dataPlane, error) {
	return &dataPlane{listener: listeners[0]}, nil
}

func (d *dataPlane) watch(s *udpSocket, h datagramHandler) error {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		buf := make([]byte, datagramBuffer)
		for {
			n, from, err := s.conn.ReadFromUDPAddrPort(buf[headroom:])
			if err != nil {
				return
			}
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if frame, to := h.received(buf, n, from); frame != nil {
				_ = d.listener.writeTo(frame, to)
			}
		}
	}()
	return nil
}

// close waits for the readers, which stop as their sockets close.
func (d *dataPlane) close() { d.wg.Wait() }

// udpSocket is a UDP socket in Go's poller.
type udpSocket struct {
	conn  *net.UDPConn
	v6    bool
	local *net.UDPAddr // with a 16-byte IP (see addrCache)
}

func detach(c *net.UDPConn) (*udpSocket, error) {
	local := c.LocalAddr().(*net.UDPAddr)
	s := &udpSocket{conn: c, local: local, v6: local.IP.To4() == nil}
	if ap := local.AddrPort(); ap.IsValid() {
		s.local = udpAddr(ap)
	}
	return s, nil
}

func (s *udpSocket) writeTo(b []byte, to netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, mapped(to, s.v6))
	return err
}

func (s *udpSocket) close() error { return s.conn.Close() }
