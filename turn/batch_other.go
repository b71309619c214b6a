//go:build !linux

package turn

import (
	"errors"
	"net"
	"net/netip"
)

// batchReader is recvmmsg(2), which only Linux has here.
type batchReader struct{}

const listenerBatch = 1

func newBatchReader(*net.UDPConn, int) *batchReader { return nil }

func (*batchReader) read([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errors.New("turn: no batched reads on this system")
}
