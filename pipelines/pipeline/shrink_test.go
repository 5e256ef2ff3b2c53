package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/clock"
)

// While backpressure holds, producers offer nothing, so a window has no
// arrivals; that must not read as "no load" and shrink the pool to its
// minimum while the queue is at its high water mark. Time is a fake clock
// and the load is fed to the meter, so the decisions are exact.
func TestNoShrinkUnderBackpressure(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	clk := clock.NewFake(t0)
	stuck := make(chan struct{})
	cfg := Config{Name: "pulse", QueueCapacity: 100, HighWater: 0.8, LowWater: 0.1, MinWorkers: 1, MaxWorkers: 50,
		Sizing: Sizing{SLO: 10 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: time.Hour}, Clock: clk}
	p, err := New(cfg, func(_ context.Context, j int) int { <-stuck; return j }, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	setCPUWait(p, 0)
	go func() {
		for range p.Results() {
		}
	}()

	// Phase 1: 300 ms of 1000/s of 10 ms jobs (10 Erlangs).
	for i := range 300 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		p.meter.arrive(at, at)
		p.meter.complete(at, at, at.Add(10*time.Millisecond), 0)
	}
	clk.Advance(300 * time.Millisecond)
	loaded := p.decide(cfg, clk.Now())
	if loaded.Target < 10 {
		t.Fatalf("10 Erlangs of load sized the pool to %d workers", loaded.Target)
	}

	// Phase 2: the workers hang; the queue fills to the high mark and the
	// producer, like offerCheck, stops offering while Backpressure().
	for !p.Backpressure() {
		p.TrySubmit(1)
	}
	clk.Advance(100 * time.Millisecond)
	p.decide(cfg, clk.Now()) // the window in which the queue filled
	clk.Advance(100 * time.Millisecond)
	depth := p.ring.Len()
	d := p.decide(cfg, clk.Now()) // a window with no arrivals at all
	if d.Target < loaded.Target {
		t.Errorf("pool shrunk from %d to %d workers with %d jobs queued at the high water mark", loaded.Target, d.Target, depth)
	}
	close(stuck)
	_ = p.Close(context.Background(), false)
}
