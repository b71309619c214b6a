package turn

import (
	"net"
	"sync/atomic"
)

// Transports between a client and the server, as Counts names them.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

var transports = []string{TransportUDP, TransportTCP, TransportTLS}

// counters are the server's running totals, for metrics. They are
// atomics: the relay counts every datagram's bytes with no lock and no
// allocation.
type counters struct {
	live, total   [3]atomic.Int64 // allocations by transports
	authFailures  atomic.Uint64
	toPeer, toCli atomic.Uint64 // relayed bytes, by direction
	tlsPorts      map[int]bool  // static: ports whose TCP connections are TLS
}

// transport names the transport of an allocation from the client's
// address (pion's protocol argument names the relay's, always UDP) and the
// server address the client reached.
func (c *counters) transport(client, server net.Addr) int {
	if _, ok := client.(*net.UDPAddr); ok {
		return 0
	}
	if ta, ok := server.(*net.TCPAddr); ok && c.tlsPorts[ta.Port] {
		return 2
	}
	return 1
}

func (c *counters) allocated(client, server net.Addr) {
	i := c.transport(client, server)
	c.live[i].Add(1)
	c.total[i].Add(1)
}

func (c *counters) released(client, server net.Addr) {
	c.live[c.transport(client, server)].Add(-1)
}

// Counts is a snapshot of the server's totals since it started.
type Counts struct {
	Allocations      map[string]int64 // live, by transport
	AllocationsTotal map[string]int64 // since start, by transport
	AuthFailures     uint64           // requests whose credentials were refused
	RelayedToPeer    uint64           // bytes relayed from clients to peers
	RelayedToClient  uint64           // bytes relayed from peers to clients
	// PeerRefusals are the permissions and channel bindings refused for a
	// forbidden peer address; datagrams to the server's own address on a
	// port that is no live relay are Dropped["peer-port"].
	PeerRefusals uint64
	Dropped      map[string]uint64 // datagrams the relay dropped, by reason
}

// Counts reads the server's totals.
func (s *Server) Counts() Counts {
	c := Counts{Allocations: map[string]int64{}, AllocationsTotal: map[string]int64{},
		AuthFailures: s.counters.authFailures.Load(), RelayedToPeer: s.counters.toPeer.Load(),
		RelayedToClient: s.counters.toCli.Load(), PeerRefusals: s.policy.refused.Load(), Dropped: s.Dropped()}
	for i, t := range transports {
		c.Allocations[t] = s.counters.live[i].Load()
		c.AllocationsTotal[t] = s.counters.total[i].Load()
	}
	return c
}
