package pipeline

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/sizing"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}

// active reads cpra_backpressure_active{pipeline="pulse"} from a scrape.
func active(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return testmetrics.Value(t, reg, "cpra_backpressure_active", "pipeline", "pulse")
}

func TestWaterMarksHaveHysteresis(t *testing.T) {
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	var done atomic.Int64
	p, err := New(Config{Name: "pulse", QueueCapacity: 10, HighWater: 0.8, LowWater: 0.3, MaxWorkers: 1},
		func(_ context.Context, j int) int { <-release; done.Add(1); return j }, reg)
	if err != nil {
		t.Fatal(err)
	}
	results := 0
	collected := make(chan struct{})
	go func() {
		for range p.Results() {
			results++
		}
		close(collected)
	}()
	if got := testmetrics.Value(t, reg, "cpra_backpressure_high_water_mark", "pipeline", "pulse"); got != 8 {
		t.Fatalf("high water mark gauge = %v, want 8 (0.8 of 10)", got)
	}
	if got := testmetrics.Value(t, reg, "cpra_backpressure_low_water_mark", "pipeline", "pulse"); got != 3 {
		t.Fatalf("low water mark gauge = %v, want 3 (0.3 of 10)", got)
	}

	accepted := 0
	for p.TrySubmit(accepted) {
		accepted++
	}
	if !p.Backpressure() || active(t, reg) != 1 {
		t.Fatal("refusal at the high water mark did not engage backpressure")
	}
	// The worker holds one job and the feeder may hold one more; nothing
	// moves until a job is released, so the depth is now fixed.
	eventually(t, "the feeder blocks on the busy pool", func() bool {
		return p.Stats().Running == 1 && p.Stats().Depth == accepted-2
	})
	for depth := p.Stats().Depth; depth > 3; depth = p.Stats().Depth {
		if p.TrySubmit(-1) {
			t.Fatalf("accepted work at depth %d, between the marks, while backpressure was engaged", depth)
		}
		release <- struct{}{}
		eventually(t, "one job finishes", func() bool { return p.Stats().Depth == depth-1 })
	}
	if !p.TrySubmit(accepted) {
		t.Fatal("refused work at the low water mark")
	}
	accepted++
	if p.Backpressure() || active(t, reg) != 0 {
		t.Fatal("backpressure still engaged at the low water mark")
	}
	close(release)
	if err := p.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	<-collected
	if results != accepted {
		t.Fatalf("%d results for %d accepted jobs: deferral must not lose work", results, accepted)
	}
}

func TestMeterMeasuresLittlesLaw(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	mt := newMeter(t0)
	// One job every 10 ms, each waiting 20 ms and served for 30 ms, for 10 s:
	// λ = 100/s, W = 50 ms, so L = λW = 5.
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		mt.arrive(at, at)
		// Completions interleave with later arrivals; feed them in time order.
		if i >= 5 {
			prev := t0.Add(time.Duration(i-5) * 10 * time.Millisecond)
			mt.complete(prev, prev.Add(20*time.Millisecond), prev.Add(50*time.Millisecond), 0)
		}
	}
	w := mt.take(t0.Add(10 * time.Second))
	if math.Abs(w.L-5) > 0.05 {
		t.Errorf("L = %v, want 5", w.L)
	}
	if math.Abs(w.LambdaW-5) > 0.05 {
		t.Errorf("λW = %v, want 5", w.LambdaW)
	}
	if got := w.Estimate.Lambda; math.Abs(got-100) > 1 {
		t.Errorf("estimated λ = %v, want 100", got)
	}
	if got := w.Estimate.MeanService; got != 30*time.Millisecond {
		t.Errorf("estimated E[S] = %v, want 30ms", got)
	}
	if w.Arrivals != 1000 || w.Completions != 995 {
		t.Errorf("window counted %d arrivals and %d completions, want 1000 and 995", w.Arrivals, w.Completions)
	}
	// The next window starts empty but remembers the jobs still inside.
	w2 := mt.take(t0.Add(11 * time.Second))
	if w2.Arrivals != 0 || math.Abs(w2.L-5) > 1e-9 {
		t.Errorf("second window: %d arrivals, L = %v; want 0 and the 5 jobs still in the pipeline", w2.Arrivals, w2.L)
	}
}

func TestDecideSizesThePoolFromTheModel(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Name: "pulse", QueueCapacity: 1024, MinWorkers: 2, MaxWorkers: 500,
		Sizing: Sizing{SLO: 100 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: time.Hour}}
	p, err := New(cfg, func(_ context.Context, j int) int { return j }, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background(), true)
	setCPUWait(p, 0) // the test machine's own load is not the model's input
	go func() {
		for range p.Results() {
		}
	}()

	// 1000 checks per second, each taking 200 ms: 200 Erlangs offered.
	t0 := time.Now()
	for i := range 5000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		p.meter.arrive(at, at)
		p.meter.complete(at, at, at.Add(200*time.Millisecond), 0)
	}
	now := t0.Add(5 * time.Second)
	d := p.decide(cfg, now)
	want := sizing.Recommend(sizing.Input{Lambda: 1000, MeanService: 200 * time.Millisecond, CA2: 0, CS2: 0,
		SLO: cfg.Sizing.SLO, Quantile: 0.95, Headroom: 0.15, Min: 2, Max: 500, Current: 2, DownHysteresis: downHysteresis})
	if d.Direction != sizing.Up || d.Target != want.Target {
		t.Fatalf("decision %+v, want up to %d", d, want.Target)
	}
	if d.Target <= 200 || d.Target > 500 {
		t.Fatalf("target %d workers for 200 Erlangs", d.Target)
	}
	if got := p.Stats().Workers; got != d.Target {
		t.Fatalf("pool has %d workers after Tune(%d)", got, d.Target)
	}
	for name, want := range map[string]float64{
		"recommended": float64(d.Desired),
		"arrival":     1000,
		"service":     0.2,
		"slo":         0.1,
		"up":          1,
	} {
		var got float64
		switch name {
		case "recommended":
			got = testmetrics.Value(t, reg, "cpra_sizing_recommended_workers", "pipeline", "pulse")
		case "arrival":
			got = testmetrics.Value(t, reg, "cpra_sizing_arrival_rate", "pipeline", "pulse")
		case "service":
			got = testmetrics.Value(t, reg, "cpra_sizing_service_time_seconds", "pipeline", "pulse")
		case "slo":
			got = testmetrics.Value(t, reg, "cpra_sizing_slo_seconds", "pipeline", "pulse")
		case "up":
			got = testmetrics.Value(t, reg, "cpra_sizing_decisions_total", "pipeline", "pulse", "direction", "up", "reason", "model")
		}
		if math.Abs(got-want) > want*0.01 {
			t.Errorf("%s gauge = %v, want %v", name, got, want)
		}
	}
	if u := testmetrics.Value(t, reg, "cpra_sizing_utilization", "pipeline", "pulse"); !(u > 0.5 && u < 1) {
		t.Errorf("utilisation %v at the chosen size, want in (0.5, 1)", u)
	}
	if w := testmetrics.Value(t, reg, "cpra_sizing_predicted_wait_seconds", "pipeline", "pulse"); !(w >= 0 && w <= 0.1) {
		t.Errorf("predicted wait %v s above the 100ms SLO at the chosen size", w)
	}

	// An idle window: the load is gone, so the pool shrinks to its minimum.
	d = p.decide(cfg, now.Add(5*time.Second))
	if d.Direction != sizing.Down || p.Stats().Workers != 2 {
		t.Fatalf("idle window: %s to %d workers, want down to 2", d.Direction, p.Stats().Workers)
	}
}

func TestSizingControllerGrowsARealPool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real work for a few seconds")
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Name: "pulse", QueueCapacity: 4096, MinWorkers: 1, MaxWorkers: 200,
		Sizing: Sizing{SLO: 20 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: 200 * time.Millisecond}}
	p, err := New(cfg, func(ctx context.Context, j int) int {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
		return j
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.Results() {
		}
	}()
	stop := make(chan struct{})
	go func() { // about 500 jobs a second: roughly 10 Erlangs
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				p.TrySubmit(1)
			}
		}
	}()
	eventually(t, "the pool grows past its minimum and matches the recommendation", func() bool {
		rec := testmetrics.Value(t, reg, "cpra_sizing_recommended_workers", "pipeline", "pulse")
		return rec > 2 && float64(p.Stats().Workers) == rec
	})
	close(stop)
	if err := p.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if l := testmetrics.Value(t, reg, "cpra_sizing_littles_law_l", "pipeline", "pulse"); !(l > 0) {
		t.Errorf("Little's L = %v under load", l)
	}
}

// setCPUWait replaces the controller's CPU gauge (the Go scheduler's
// latency) with a fixed reading, so a decision does not depend on how busy
// the test machine is.
func setCPUWait[J, R any](p *Pipeline[J, R], seconds float64) {
	p.ctl.mu.Lock()
	defer p.ctl.mu.Unlock()
	p.ctl.cpuWait = func() float64 { return seconds }
}

// TestGuardsRefuseGrowth: growth the model asks for is refused, with its
// reason counted, when the process is CPU-bound (runnable goroutines wait
// 5 ms for a CPU), and when the last growth bought latency but no
// throughput.
func TestGuardsRefuseGrowth(t *testing.T) {
	cfg := Config{Name: "pulse", QueueCapacity: 1024, MinWorkers: 2, MaxWorkers: 500,
		Sizing: Sizing{SLO: 100 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: time.Hour}}
	start := func(t *testing.T) (*Pipeline[int, int], *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		p, err := New(cfg, func(_ context.Context, j int) int { return j }, reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(context.Background(), true) })
		go func() {
			for range p.Results() {
			}
		}()
		return p, reg
	}
	// load feeds a window of one second: rate checks per second, each
	// taking service.
	load := func(p *Pipeline[int, int], from time.Time, rate int, service time.Duration) time.Time {
		for i := range rate {
			at := from.Add(time.Duration(i) * time.Second / time.Duration(rate))
			p.meter.arrive(at, at)
			p.meter.complete(at, at, at.Add(service), 0)
		}
		return from.Add(time.Second)
	}
	decisions := func(reg *prometheus.Registry, direction, reason string) float64 {
		return testmetrics.Value(t, reg, "cpra_sizing_decisions_total", "pipeline", "pulse", "direction", direction, "reason", reason)
	}

	t.Run("cpu_saturated", func(t *testing.T) {
		p, reg := start(t)
		setCPUWait(p, 0.005)
		now := load(p, time.Now(), 1000, 200*time.Millisecond)
		d := p.decide(cfg, now)
		if d.Direction != sizing.Hold || p.Stats().Workers != 2 {
			t.Fatalf("CPU-bound: %s to %d workers, want hold at 2", d.Direction, p.Stats().Workers)
		}
		if got := decisions(reg, "hold", "cpu_saturated"); got != 1 {
			t.Fatalf(`decisions{direction="hold",reason="cpu_saturated"} = %v, want 1`, got)
		}
		setCPUWait(p, 0)
		now = load(p, now, 1000, 200*time.Millisecond)
		if d := p.decide(cfg, now); d.Direction != sizing.Up {
			t.Fatalf("with CPU to spare again: %s, want up", d.Direction)
		}
	})

	t.Run("no_gain", func(t *testing.T) {
		p, reg := start(t)
		setCPUWait(p, 0)
		now := load(p, time.Now(), 1000, 10*time.Millisecond)
		if d := p.decide(cfg, now); d.Direction != sizing.Up {
			t.Fatalf("first window: %s, want up (model)", d.Direction)
		}
		grown := p.Stats().Workers
		// The growth bought nothing: the same throughput, each check now
		// four times slower, and the model asks for more again.
		now = load(p, now, 1000, 40*time.Millisecond)
		d := p.decide(cfg, now)
		if d.Direction != sizing.Hold || p.Stats().Workers != grown {
			t.Fatalf("no gain: %s to %d workers, want hold at %d", d.Direction, p.Stats().Workers, grown)
		}
		if got := decisions(reg, "hold", "no_gain"); got != 1 {
			t.Fatalf(`decisions{direction="hold",reason="no_gain"} = %v, want 1`, got)
		}
	})

	// Under backpressure only urgent work gets in (it bypasses the water
	// marks), slow work at that (checks of hanging targets): a window that
	// sees only that must not shrink the pool, or the backlog it refuses
	// is never served (a 1M run fell from 16k to 180 checks a second).
	t.Run("a backlog never shrinks the pool", func(t *testing.T) {
		p, reg := start(t)
		setCPUWait(p, 0)
		now := load(p, time.Now(), 1000, 100*time.Millisecond)
		if d := p.decide(cfg, now); d.Direction != sizing.Up {
			t.Fatalf("first window: %s, want up (model)", d.Direction)
		}
		grown := p.Stats().Workers
		p.pressed.Store(true)
		p.pressedInWindow.Store(true)
		now = load(p, now, 10, 2*time.Second)
		d := p.decide(cfg, now)
		if d.Direction == sizing.Down || p.Stats().Workers < grown {
			t.Errorf("with a backlog: %s to %d workers, want at least %d", d.Direction, p.Stats().Workers, grown)
		}
		if lambda := testmetrics.Value(t, reg, "cpra_sizing_arrival_rate", "pipeline", "pulse"); lambda < 900 {
			t.Errorf("arrival rate %v under backpressure; want the last window's (about 1000/s) to stand", lambda)
		}
	})

	// The same slowdown, all of it spent waiting for the agent's own
	// connection slots (the work reports it as local time): the targets
	// are as fast as before, so it is no reason to stop growing, and the
	// model sizes from the targets' 10 ms, not the 40 ms on the worker.
	t.Run("a local cap is not a saturated target", func(t *testing.T) {
		p, reg := start(t)
		setCPUWait(p, 0)
		now := load(p, time.Now(), 1000, 10*time.Millisecond)
		if d := p.decide(cfg, now); d.Direction != sizing.Up {
			t.Fatalf("first window: %s, want up (model)", d.Direction)
		}
		for i := range 1000 {
			at := now.Add(time.Duration(i) * time.Millisecond)
			p.meter.arrive(at, at)
			p.meter.complete(at, at, at.Add(40*time.Millisecond), 30*time.Millisecond)
		}
		now = now.Add(time.Second)
		d := p.decide(cfg, now)
		if got := decisions(reg, "hold", "no_gain"); got != 0 {
			t.Errorf("a slot wait read as a saturated target: %v no_gain decisions (%s)", got, d.Direction)
		}
		if s := p.meter.est.Snapshot().MeanService; s < 9*time.Millisecond || s > 11*time.Millisecond {
			t.Errorf("service time %v, want the targets' 10ms", s)
		}
	})
}
