//go:build !linux

package turn

import (
	"net"
	"net/netip"
)

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
