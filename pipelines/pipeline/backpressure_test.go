package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/telemetry"
)

// A producer that, like agent.offerCheck, does not offer while
// Backpressure() is true. Backpressure that engages just after the feeder
// drained the ring must still let go, or that producer stops for good.
func TestBackpressureNeverSticksOnAnEmptyRing(t *testing.T) {
	for round := 0; round < 50; round++ {
		m := telemetry.NewMetrics()
		var done atomic.Int64
		p, err := New(Config{Name: "pulse", QueueCapacity: 2, HighWater: 0.5, LowWater: 0.4, MaxWorkers: 64},
			func(_ context.Context, j int) int { done.Add(1); return j }, m)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range p.Results() {
			}
		}()
		deadline := time.Now().Add(20 * time.Millisecond)
		stuckSince := time.Time{}
		for time.Now().Before(deadline) || !stuckSince.IsZero() {
			if p.Backpressure() {
				if p.ring.Len() == 0 {
					if stuckSince.IsZero() {
						stuckSince = time.Now()
					} else if time.Since(stuckSince) > 200*time.Millisecond {
						t.Fatalf("round %d: backpressure engaged on an empty ring and never released (gauge %v, depth %d)",
							round, active(t, m), p.ring.Len())
					}
				}
				continue
			}
			stuckSince = time.Time{}
			p.TrySubmit(1)
		}
		p.Close(context.Background(), true)
	}
}
