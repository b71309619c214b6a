package turn

import (
	"net"
	"net/netip"
	"sync"
)

// quotas counts live allocations per user and per client address. Counts
// follow the server's allocation events, so a burst of simultaneous
// requests may overshoot a limit by the few still in flight.
type quotas struct {
	// Static after construction; zero means no limit.
	perUser, perIP int

	mu     sync.Mutex
	byUser map[string]int     // guarded by mu
	byIP   map[netip.Addr]int // guarded by mu
}

func newQuotas(perUser, perIP int) *quotas {
	return &quotas{perUser: perUser, perIP: perIP, byUser: map[string]int{}, byIP: map[netip.Addr]int{}}
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// allow is the server's QuotaHandler: false answers 486 Allocation Quota
// Reached.
func (q *quotas) allow(userID, _ string, src net.Addr) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perUser > 0 && q.byUser[userID] >= q.perUser {
		return false
	}
	if q.perIP > 0 && q.byIP[addrOf(src)] >= q.perIP {
		return false
	}
	return true
}

func (q *quotas) created(src net.Addr, userID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.byUser[userID]++
	q.byIP[addrOf(src)]++
}

func (q *quotas) deleted(src net.Addr, userID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byUser[userID]--; q.byUser[userID] <= 0 {
		delete(q.byUser, userID)
	}
	ip := addrOf(src)
	if q.byIP[ip]--; q.byIP[ip] <= 0 {
		delete(q.byIP, ip)
	}
}

// live is the number of allocations counted (for tests and metrics).
func (q *quotas) live() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, c := range q.byIP {
		n += c
	}
	return n
}
