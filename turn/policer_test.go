package turn

import (
	"testing"
	"time"
)

func TestPolicer(t *testing.T) {
	type step struct {
		at   time.Duration // since the policer's start
		n    int
		want bool
	}
	for _, tc := range []struct {
		name        string
		rate, burst int
		steps       []step
	}{
		{"starts full", 1000, 1500, []step{{0, 1500, true}, {0, 1, false}}},
		{"larger than the burst never passes", 1000, 1500, []step{{0, 1501, false}, {time.Hour, 1501, false}, {time.Hour, 1500, true}}},
		{"refills at the rate", 1000, 1500, []step{
			{0, 1500, true},
			{time.Second / 2, 501, false}, // 500 bytes back
			{time.Second / 2, 500, true},
			{time.Second, 500, true},
			{time.Second, 1, false},
		}},
		{"partial bytes are not lost", 1000, 1500, []step{
			{0, 1500, true},
			{time.Millisecond / 2, 1, false}, // half a byte
			{time.Millisecond, 1, true},      // two halves make one
			{time.Millisecond, 1, false},
		}},
		{"refill stops at the burst", 1000, 1500, []step{
			{0, 1000, true},
			{10 * time.Second, 1500, true},
			{10 * time.Second, 1, false},
		}},
		{"a drop takes nothing", 1000, 1500, []step{{0, 1000, true}, {0, 600, false}, {0, 500, true}}},
		{"clock going back is ignored", 1000, 1500, []step{{time.Second, 1500, true}, {0, 1, false}, {time.Second + time.Millisecond, 1, true}}},
		{"long idle at a huge rate does not overflow", 1 << 40, 1 << 40, []step{
			{0, maxPolicedRate, true},
			{time.Second / 2, maxPolicedRate, false},
			{100 * 365 * 24 * time.Hour, maxPolicedRate, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicer(tc.rate, tc.burst)
			start := p.last
			for i, s := range tc.steps {
				if got := p.allowAt(start+s.at, s.n); got != s.want {
					t.Fatalf("step %d: allow %d bytes at %v = %v, want %v", i, s.n, s.at, got, s.want)
				}
			}
		})
	}
}
