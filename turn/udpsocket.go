package turn

import (
	"net"
	"net/netip"
)

// mapped is ap as a socket of family v6 takes it: IPv4 as IPv4-mapped IPv6.
func mapped(ap netip.AddrPort, v6 bool) netip.AddrPort {
	if v6 && ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

// detachAll takes the TURN port's sockets over for the data plane; on an
// error it closes them all.
func detachAll(conns []*net.UDPConn) ([]*udpSocket, error) {
	socks := make([]*udpSocket, 0, len(conns))
	for i, c := range conns {
		s, err := detach(c) // owns c from here, also on an error
		if err != nil {
			for _, s := range socks {
				_ = s.close()
			}
			for _, c := range conns[i+1:] {
				_ = c.Close()
			}
			return nil, err
		}
		socks = append(socks, s)
	}
	return socks, nil
}
