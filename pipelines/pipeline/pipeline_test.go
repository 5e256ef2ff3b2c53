package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
)

func TestPipelineRunsEveryJob(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(Config{Name: "pulse", QueueCapacity: 64, MaxWorkers: 4}, func(_ context.Context, j int) int { return j * 2 }, reg)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	done := make(chan struct{})
	go func() {
		for r := range p.Results() {
			sum += r
		}
		close(done)
	}()
	for i := 1; i <= 50; i++ {
		if !p.TrySubmit(i) { // 50 jobs fit a queue of 64
			t.Fatalf("job %d refused", i)
		}
	}
	if err := p.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	<-done
	if sum != 2*50*51/2 {
		t.Fatalf("sum of results = %d, want %d", sum, 50*51)
	}
	if got := testmetrics.Value(t, reg, "cpra_queue_dequeued_total", "pipeline", "pulse"); got != 50 {
		t.Fatalf("dequeued = %v, want 50", got)
	}
}

func TestTrySubmitRefusesWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	p, err := New(Config{Name: "code", QueueCapacity: 2, MaxWorkers: 1}, func(_ context.Context, j int) int { <-release; return j }, reg)
	if err != nil {
		t.Fatal(err)
	}
	// One job occupies the worker, one waits in the feeder for it, and then
	// exactly two fill the queue.
	if !p.TrySubmit(1) {
		t.Fatal("the first job was refused")
	}
	eventually(t, "the worker to take the first job", func() bool { return p.pool.Running() == 1 })
	if !p.TrySubmit(2) {
		t.Fatal("the second job was refused")
	}
	eventually(t, "the feeder to take the second job", func() bool { return p.ring.Len() == 0 })
	accepted := 0
	for range 10 {
		if p.TrySubmit(3) {
			accepted++
		}
	}
	if accepted != 2 {
		t.Fatalf("the queue of capacity 2 accepted %d jobs", accepted)
	}
	close(release)
	go func() {
		for range p.Results() {
		}
	}()
	if err := p.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if p.TrySubmit(1) {
		t.Fatal("TrySubmit after Close must refuse")
	}
}

func TestCloseWithoutDrainDropsQueuedAndCancelsAtDeadline(t *testing.T) {
	reg := prometheus.NewRegistry()
	var cancelled atomic.Int32
	started := make(chan struct{}, 1)
	p, err := New(Config{Name: "intervention", QueueCapacity: 8, MaxWorkers: 1}, func(ctx context.Context, j int) int {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Add(1)
		return j
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	p.TrySubmit(1)
	<-started
	for range 3 {
		p.TrySubmit(2)
	}
	go func() {
		for range p.Results() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx, false); err == nil {
		t.Fatal("Close must report that the drain was cut short")
	}
	if cancelled.Load() < 1 {
		t.Fatal("running job was not cancelled")
	}
	dropped := testmetrics.Value(t, reg, "cpra_queue_dropped_total", "pipeline", "intervention", "reason", "shutdown")
	if dropped < 2 {
		t.Fatalf("dropped on shutdown = %v, want at least 2 of the 3 queued", dropped)
	}
}
