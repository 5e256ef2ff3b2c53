package pipeline

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A producer that, like agent.offerCheck, does not offer while
// Backpressure() is true. Backpressure that engages just after the feeder
// drained the ring must still let go, or that producer stops for good.
func TestBackpressureNeverSticksOnAnEmptyRing(t *testing.T) {
	for round := 0; round < 50; round++ {
		reg := prometheus.NewRegistry()
		var done atomic.Int64
		p, err := New(Config{Name: "pulse", QueueCapacity: 2, HighWater: 0.5, LowWater: 0.4, MaxWorkers: 64},
			func(_ context.Context, j int) int { done.Add(1); return j }, reg)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range p.Results() {
			}
		}()
		for range 2000 { // offers, not a duration: the same work on any machine
			if p.Backpressure() && p.ring.Len() == 0 {
				// Engaged on an empty ring: it must let go on its own,
				// with nothing more offered (the gauge says so too).
				released := time.Now().Add(10 * time.Second)
				for p.Backpressure() {
					if time.Now().After(released) {
						t.Fatalf("round %d: backpressure engaged on an empty ring and never released (gauge %v, depth %d)",
							round, active(t, reg), p.ring.Len())
					}
					runtime.Gosched()
				}
			}
			if !p.Backpressure() {
				p.TrySubmit(1)
			}
		}
		p.Close(context.Background(), true)
	}
}
