package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/telemetry"
)

// While backpressure holds, producers offer nothing, so a window has no
// arrivals; that must not read as "no load" and shrink the pool to its
// minimum while the queue is at its high water mark.
func TestNoShrinkUnderBackpressure(t *testing.T) {
	var slow atomic.Bool
	cfg := Config{Name: "pulse", QueueCapacity: 100, HighWater: 0.8, LowWater: 0.1, MinWorkers: 1, MaxWorkers: 50,
		Sizing: Sizing{SLO: 10 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: time.Hour}}
	p, err := New(cfg, func(_ context.Context, j int) int {
		if slow.Load() {
			time.Sleep(200 * time.Millisecond)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
		return j
	}, telemetry.NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	setCPUWait(p, 0)
	go func() {
		for range p.Results() {
		}
	}()
	// Phase 1: ~1000/s of 10ms jobs (10 Erlangs).
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		p.TrySubmit(1)
		time.Sleep(time.Millisecond)
	}
	d := p.decide(cfg, time.Now())
	t.Logf("loaded: direction=%s target=%d", d.Direction, d.Target)
	// Phase 2: the service slows down; the queue fills to the high mark and
	// the producer, like offerCheck, stops offering while Backpressure().
	slow.Store(true)
	for !p.Backpressure() {
		p.TrySubmit(1)
	}
	time.Sleep(100 * time.Millisecond)
	depth := p.ring.Len()
	d = p.decide(cfg, time.Now())
	t.Logf("backpressure, depth %d: direction=%s target=%d pool cap now %d", depth, d.Direction, d.Target, p.pool.Cap())
	if d.Target < 2 {
		t.Errorf("pool shrunk to %d workers with %d jobs queued at the high water mark", d.Target, depth)
	}
	p.Close(context.Background(), false)
}
