package turn

import "sync/atomic"

// relayPorts is the set of ports on which this server has a live relay
// socket: one bit a port, read on every datagram a relay sends to the
// server's own address, without a lock.
type relayPorts struct {
	bits [65536 / 64]atomic.Uint64
}

func (r *relayPorts) add(port uint16)    { r.bits[port/64].Or(1 << (port % 64)) }
func (r *relayPorts) remove(port uint16) { r.bits[port/64].And(^uint64(1 << (port % 64))) }

func (r *relayPorts) live(port uint16) bool {
	return r.bits[port/64].Load()&(1<<(port%64)) != 0
}
