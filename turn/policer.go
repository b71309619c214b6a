package turn

import (
	"sync"
	"time"
)

// maxPolicedRate bounds a policer's rate and burst (bytes per second and
// bytes, some 69 Gbit/s), so that its arithmetic in byte-nanoseconds stays
// below 2^63.
const maxPolicedRate = 1 << 33

// monoEpoch is the origin of the monotonic clock policers run on:
// time.Since reads only the monotonic clock, one vDSO call.
var monoEpoch = time.Now()

// policer is a token bucket over bytes: a datagram passes if the bucket
// holds its size, and is dropped otherwise. It is full at the start. Its
// arithmetic is exact integers, in byte-nanoseconds, where rate.Limiter
// does float and time.Time arithmetic; every relayed datagram passes one.
type policer struct {
	// Static after construction.
	rate int64 // bytes per second
	max  int64 // the burst, in byte-nanoseconds

	mu     sync.Mutex
	tokens int64         // guarded by mu; byte-nanoseconds
	last   time.Duration // guarded by mu; time of the last refill, since monoEpoch
}

func newPolicer(bytesPerSec, burst int) *policer {
	r := int64(max(1, min(bytesPerSec, maxPolicedRate))) // allowAt divides by it
	b := int64(min(burst, maxPolicedRate))
	return &policer{rate: r, max: b * int64(time.Second), tokens: b * int64(time.Second), last: time.Since(monoEpoch)}
}

// allow reports whether n bytes may pass now, and takes them if so.
func (p *policer) allow(n int) bool { return p.allowAt(time.Since(monoEpoch), n) }

// allowAt is allow at time now (since monoEpoch), for tests.
func (p *policer) allowAt(now time.Duration, n int) bool {
	cost := int64(n) * int64(time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	if elapsed := int64(now - p.last); elapsed > 0 {
		p.last = now
		// Compare before multiplying: a long idle time times the rate
		// could overflow. Past this test, elapsed*rate <= max-tokens.
		if elapsed > (p.max-p.tokens)/p.rate {
			p.tokens = p.max
		} else {
			p.tokens += elapsed * p.rate
		}
	}
	if cost > p.tokens {
		return false
	}
	p.tokens -= cost
	return true
}
