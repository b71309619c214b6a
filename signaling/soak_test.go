package signaling

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/signaling/wire"
)

// TestSoak runs 10,000 join/leave cycles and 1,000 abrupt drops against a
// real listener, then checks that nothing is left behind: no room, no seat,
// no goroutine, no heap growth beyond a small margin.
func TestSoak(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		if testing.Short() {
			t.Skip("soak test skipped in -short mode")
		}
		const (
			cycles  = 10_000
			drops   = 1_000
			workers = 8
		)
		hub, base := newTestHub(t, be, Config{
			SeatGrace:           50 * time.Millisecond,
			MaxConnsPerIP:       -1, // every client here is 127.0.0.1
			JoinsPerIPPerMinute: -1,
		})
		measure := func() (int, uint64) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return runtime.NumGoroutine(), ms.HeapAlloc
		}
		g0, h0 := measure()

		deadline := time.Now().Add(2 * time.Minute) // a bound, not an expectation
		var failures atomic.Int64
		var wg sync.WaitGroup
		run := func(n int, once func(i int) error) {
			jobs := make(chan int)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						if err := once(i); err != nil && failures.Add(1) <= 5 {
							t.Errorf("iteration %d: %v", i, err)
						}
					}
				}()
			}
			for i := range n {
				if time.Now().After(deadline) {
					t.Errorf("soak stopped at %d of %d: over its time bound", i, n)
					break
				}
				jobs <- i
			}
			close(jobs)
			wg.Wait()
		}
		join := func(i int) (*wire.Client, error) {
			conn, err := wire.Dial(context.Background(), base+"soak-"+strconv.Itoa(i%500), nil)
			if err != nil {
				return nil, err
			}
			if _, err := conn.Next(5 * time.Second); err != nil { // created, joined or full
				conn.Close()
				return nil, err
			}
			return conn, nil
		}

		run(cycles, func(i int) error {
			conn, err := join(i)
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := conn.Leave(); err != nil {
				return err
			}
			_, err = conn.WaitClose(5 * time.Second)
			return err
		})
		run(drops, func(i int) error {
			conn, err := join(i)
			if err != nil {
				return err
			}
			return conn.Close() // no close frame: a dead network
		})

		// Held seats expire after the grace period; then everything is gone.
		var st Stats
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if st = stats(t, hub); st == (Stats{}) {
				break
			}
		}
		if st != (Stats{}) {
			t.Fatalf("after the soak the hub still holds %+v", st)
		}
		var g1 int
		var h1 uint64
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if g1, h1 = measure(); g1 <= g0+5 {
				break
			}
		}
		t.Logf("goroutines %d -> %d, heap %d KiB -> %d KiB after %d cycles and %d drops", g0, g1, h0>>10, h1>>10, cycles, drops)
		if g1 > g0+5 {
			t.Errorf("goroutines grew from %d to %d: a leak", g0, g1)
		}
		if h1 > h0+8<<20 {
			t.Errorf("heap grew from %d KiB to %d KiB", h0>>10, h1>>10)
		}
		if n := hub.admit.tracked(); n != 0 {
			t.Errorf("%d client addresses still tracked", n)
		}
	})
}
