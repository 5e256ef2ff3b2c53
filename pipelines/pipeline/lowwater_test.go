package pipeline

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestLowWaterZeroMeansEmpty(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(Config{Name: "pulse", QueueCapacity: 100, HighWater: 0.8, LowWater: 0, MaxWorkers: 1},
		func(_ context.Context, j int) int { return j }, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("low_water 0 of 100 gives low mark %d (want 0)", p.low)
	go func() {
		for range p.Results() {
		}
	}()
	p.Close(context.Background(), true)
	_, err = New(Config{Name: "code", QueueCapacity: 100, HighWater: 0.4, LowWater: 0, MaxWorkers: 1},
		func(_ context.Context, j int) int { return j }, prometheus.NewRegistry())
	t.Logf("high 0.4, low 0 (valid config): New error = %v", err)
	if p.low != 0 || err != nil {
		t.Fail()
	}
}
