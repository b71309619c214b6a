package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// udpBufferSize is the socket buffer asked for on each TURN UDP socket. The
// kernel caps it at net.core.rmem_max / wmem_max.
const udpBufferSize = 4 << 20

// listen opens n UDP sockets sharing one port, and TCP on the same address.
// With port 0 it picks a UDP port and retries until TCP gets the same one.
// With n > 1 the UDP sockets set SO_REUSEPORT, so the kernel spreads
// clients over them by source address and port; a client always reaches
// the same socket, hence the same pion allocation manager. Only processes
// of the same user can join such a group of sockets.
func listen(addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	var udpConfig, tcpConfig net.ListenConfig
	if n > 1 {
		udpConfig.Control = reusePort
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen %s: %w", addr, err)
	}
	for range 20 {
		pc, err := udpConfig.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("turn: listen udp %s: %w", addr, err)
		}
		first := pc.(*net.UDPConn) // ListenPacket's documented type for "udp"
		hostPort := net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := tcpConfig.Listen(context.Background(), "tcp", hostPort)
		if err != nil {
			_ = first.Close()
			if _, p, _ := net.SplitHostPort(addr); p != "0" {
				return nil, nil, fmt.Errorf("turn: listen tcp %s: %w", addr, err)
			}
			continue
		}
		udps := []*net.UDPConn{first}
		for len(udps) < n {
			more, err := udpConfig.ListenPacket(context.Background(), "udp", hostPort)
			if err != nil {
				for _, u := range udps {
					_ = u.Close()
				}
				_ = tcp.Close()
				return nil, nil, fmt.Errorf("turn: listen udp %s (socket %d): %w", hostPort, len(udps)+1, err)
			}
			udps = append(udps, more.(*net.UDPConn))
		}
		for _, u := range udps {
			// The default ~200 KB receive buffer overflows, and drops
			// datagrams, long before the server runs out of CPU.
			_ = u.SetReadBuffer(udpBufferSize)
			_ = u.SetWriteBuffer(udpBufferSize)
		}
		return udps, tcp, nil
	}
	return nil, nil, errors.New("turn: no port free on both UDP and TCP")
}
