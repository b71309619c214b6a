package signaling

import (
	"testing"
	"time"

	"tandem/signaling/wire"
	"tandem/signaling/wire/wiretest"
)

// TestCounts: the hub counts joins by outcome, refusals by reason and the
// messages it reads.
func TestCounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{MaxConnsPerIP: 3, SeatGrace: time.Second})
		a, b, _, _ := pair(t, base, "counted") // created, joined
		wiretest.Dial(t, base+"counted", nil).MustExpect(wire.TypeFull)
		refused := wiretest.Dial(t, base+"other", nil) // the fourth connection of this address
		if m := refused.MustExpect(wire.TypeError); m.Code != wire.CodeTooManyConnections {
			t.Fatalf("got %+v", m)
		}
		for range 3 {
			a.MustSignal(`{}`)
			b.MustExpect(wire.TypeSignal)
		}
		want := Counts{
			Joins:    map[string]uint64{JoinCreated: 1, JoinJoined: 1, JoinResumed: 0, JoinFull: 1, JoinRefused: 1},
			Messages: 3,
		}
		got := hub.Counts()
		for k, n := range want.Joins {
			if got.Joins[k] != n {
				t.Errorf("joins %s = %d, want %d (%+v)", k, got.Joins[k], n, got.Joins)
			}
		}
		if got.Refused[wire.CodeTooManyConnections] != 1 || got.Messages != want.Messages {
			t.Errorf("refused %v, messages %d; want one %s and %d", got.Refused, got.Messages, wire.CodeTooManyConnections, want.Messages)
		}
		for _, k := range refusalCodes {
			if _, ok := got.Refused[k]; !ok {
				t.Errorf("no count for %s", k)
			}
		}
	})
}

// TestCallReports: a page's reports become counts, one connected call per
// connection (later reports add only their restarts); bad reports get
// bad-message and are counted as dropped, the connection staying; more
// than maxReports are dropped.
func TestCallReports(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		hub, base := newTestHub(t, be, Config{MessageBurst: -1})
		a, b, _, _ := pair(t, base, "reported")
		send := func(data string) {
			t.Helper()
			a.MustSendRaw(`{"type":"report","data":` + data + `}`)
		}
		send(`{"event":"connected","setupMs":1500,"path":"relay_tls","restarts":0}`)
		send(`{"event":"connected","setupMs":900,"path":"direct","restarts":2}`) // after two restarts
		send(`{"event":"failed","reason":"ice"}`)
		send(`{"event":"ended","durationS":65}`)
		send(`{"event":"connected","path":"direct","room":"secret"}`)
		if m := a.MustExpect(wire.TypeError); m.Code != wire.CodeBadMessage {
			t.Fatalf("a bad report got %+v", m)
		}
		for range maxReports {
			send(`{"event":"failed","reason":"setup"}`)
		}
		// Still connected, and nothing reached b.
		a.MustSignal(`{"after":true}`)
		if m := b.MustExpect(wire.TypeSignal); string(m.Data) != `{"after":true}` {
			t.Fatalf("b got %s", m.Data)
		}
		c := hub.Counts()
		if c.CallsConnected["relay_tls"] != 1 || c.CallsConnected["direct"] != 0 || c.ICERestarts != 2 {
			t.Errorf("connected %v, restarts %d; want one relay_tls call and 2 restarts", c.CallsConnected, c.ICERestarts)
		}
		if c.CallSetup.Count != 1 || c.CallSetup.Sum != 1.5 || c.CallSetup.Buckets[2] != 1 || c.CallSetup.Buckets[1] != 0 {
			t.Errorf("setup %+v, want one observation of 1.5 s", c.CallSetup)
		}
		if c.CallDuration.Count != 1 || c.CallDuration.Sum != 65 {
			t.Errorf("duration %+v, want one of 65 s", c.CallDuration)
		}
		// 16 reports are allowed: the four above, the bad one, and 11 of
		// the 16 "setup" failures.
		if c.CallsFailed["ice"] != 1 || c.CallsFailed["setup"] != maxReports-5 {
			t.Errorf("failed %v, want ice 1 and setup %d", c.CallsFailed, maxReports-5)
		}
		if c.ReportsDropped[ReportInvalid] != 1 || c.ReportsDropped[ReportTooMany] != 5 {
			t.Errorf("dropped %v, want 1 invalid and 5 too many", c.ReportsDropped)
		}
	})
}
