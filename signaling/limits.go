package signaling

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/signaling/wire"
)

// admission enforces the per-address and global connection limits. Its
// zero-limit fields mean "no limit".
type admission struct {
	// Static after construction.
	maxConns      int // whole server
	maxConnsPerIP int
	joinsPerIP    rate.Limit
	joinBurst     int

	mu        sync.Mutex
	total     int                       // guarded by mu
	byIP      map[netip.Addr]*addrUsage // guarded by mu
	lastPrune time.Time                 // guarded by mu
}

// pruneEvery is how often, at most, the address table is swept once it is
// large: a sweep walks the whole table, so not on every join.
const pruneEvery = 10 * time.Second

type addrUsage struct {
	conns int
	joins *rate.Limiter
}

func newAdmission(cfg Config) *admission {
	return &admission{
		maxConns:      cfg.MaxConns,
		maxConnsPerIP: cfg.MaxConnsPerIP,
		joinsPerIP:    rate.Limit(float64(cfg.JoinsPerIPPerMinute) / 60),
		joinBurst:     cfg.JoinsPerIPPerMinute,
		byIP:          make(map[netip.Addr]*addrUsage),
	}
}

// admit counts a new connection from ip, or returns the error code that
// refuses it. A successful admit must be paired with release.
func (a *admission) admit(ip netip.Addr) (code string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxConns > 0 && a.total >= a.maxConns {
		return wire.CodeServerBusy
	}
	u := a.byIP[ip]
	if u == nil {
		if now := time.Now(); len(a.byIP) >= 4096 && now.Sub(a.lastPrune) >= pruneEvery {
			a.lastPrune = now
			a.prune()
		}
		u = &addrUsage{joins: rate.NewLimiter(a.joinsPerIP, a.joinBurst)}
		a.byIP[ip] = u
	}
	if a.maxConnsPerIP > 0 && u.conns >= a.maxConnsPerIP {
		return wire.CodeTooManyConnections
	}
	if a.joinBurst > 0 && !u.joins.Allow() {
		return wire.CodeTooManyJoins
	}
	u.conns++
	a.total++
	return ""
}

func (a *admission) release(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if u := a.byIP[ip]; u != nil {
		u.conns--
	}
}

// prune forgets addresses with no connection whose join budget has refilled,
// so the table stays as small as the set of active addresses.
func (a *admission) prune() {
	now := time.Now()
	for ip, u := range a.byIP {
		if u.conns == 0 && (a.joinBurst == 0 || u.joins.TokensAt(now) >= float64(a.joinBurst)) {
			delete(a.byIP, ip)
		}
	}
}

// tracked is how many addresses the table holds (for tests).
func (a *admission) tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prune()
	return len(a.byIP)
}
