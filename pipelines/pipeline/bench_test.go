package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPipelineOverhead is the engine's cost per job with empty work:
// TrySubmit (water marks, meter), the ring, the feeder, an ants worker,
// the queue-wait histogram and the result channel.
func BenchmarkPipelineOverhead(b *testing.B) {
	p, err := New(Config{Name: "pulse", QueueCapacity: 65536, MaxWorkers: 8},
		func(_ context.Context, j int) int { return j }, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int)
	go func() {
		n := 0
		for range p.Results() {
			n++
		}
		done <- n
	}()
	b.ResetTimer()
	for i := range b.N {
		for !p.TrySubmit(i) {
			time.Sleep(10 * time.Microsecond) // backpressure: let the workers catch up
		}
	}
	if err := p.Close(context.Background(), true); err != nil {
		b.Fatal(err)
	}
	if n := <-done; n != b.N {
		b.Fatalf("%d results for %d jobs", n, b.N)
	}
}

// BenchmarkMeter is the measuring cost per job: one arrival and one
// completion under the meter's lock.
func BenchmarkMeter(b *testing.B) {
	m := newMeter(time.Now())
	t := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Millisecond)
		m.arrive(t, t)
		m.complete(t, t, t.Add(time.Microsecond), 0)
	}
}
