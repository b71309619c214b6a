//go:build !linux

package turn

import (
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
