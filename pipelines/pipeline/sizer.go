package pipeline

import (
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/cpra-agent/cpra-agent/pipelines/sizing"
)

// Sizing is a pipeline's worker-sizing policy (see package sizing).
type Sizing struct {
	SLO      time.Duration // target queue wait at Quantile
	Quantile float64       // 0 sizes for the mean wait
	Headroom float64       // extra fraction of workers on top of the model's answer
	Interval time.Duration // time between decisions; 0 disables sizing
}

func (s Sizing) enabled() bool { return s.Interval > 0 }

// downHysteresis: the pool shrinks only when the model wants at least 10 %
// fewer workers, so noise in the estimates does not make it flap.
const downHysteresis = 0.10

// firstDecision bounds the wait for the first decision, so a pool started
// at its minimum grows within a second of the first burst of work.
const firstDecision = time.Second

// The reasons of a decision (the `reason` label of
// cpra_sizing_decisions_total).
const (
	reasonModel        = "model"
	reasonCPUSaturated = "cpu_saturated"
	reasonNoGain       = "no_gain"
	reasonMax          = "max"
	reasonFDLimit      = "fd_limit"
	reasonBacklog      = "backlog"
)

// cpuSaturatedWait is the goroutine scheduling latency (time runnable,
// waiting for a CPU) at the 90th percentile over a window above which the
// process is CPU-bound: more workers cannot run sooner, they only make
// every check slower, which the model would read as a reason for more.
const cpuSaturatedWait = 2 * time.Millisecond

// noGainFactor: service time this many times its recent minimum, after a
// growth that did not raise throughput, says the bottleneck is elsewhere
// (the CPU, the target): the pool stops growing, as adaptive concurrency
// limiters (Netflix's gradient, TCP Vegas) back off when latency rises
// without throughput.
const noGainFactor = 2.0

// controller is the sizing controller's memory between decisions.
type controller struct {
	mu         sync.Mutex // decide runs on the sizing goroutine, and from tests
	minService float64    // seconds; the smallest recent window mean, drifting up slowly
	lastUp     bool       // the previous decision grew the pool
	lastRate   float64    // completions per second in the previous window
	lastLambda float64    // the arrival rate the last decision used
	// lastFDWarning is when the open-files limit holding the pool back was
	// last logged.
	lastFDWarning time.Time
	sched         schedLatency
	// cpuWait is the CPU gauge, sched.p90 in production: how long runnable
	// goroutines waited for a CPU since the last decision, in seconds.
	cpuWait func() float64
}

// size is the sizing controller: one decision per interval until Close.
func (p *Pipeline[J, R]) size(cfg Config) {
	defer close(p.sized)
	timer := time.NewTimer(min(cfg.Sizing.Interval, firstDecision))
	defer timer.Stop()
	for {
		select {
		case <-p.sizer:
			return
		case now := <-timer.C:
			p.decide(cfg, now)
			timer.Reset(cfg.Sizing.Interval)
		}
	}
}

// decide measures the last window, asks the model for a pool size, applies
// it with the pool's Tune, and publishes the inputs and the answer.
func (p *Pipeline[J, R]) decide(cfg Config, now time.Time) sizing.Decision {
	p.ctl.mu.Lock()
	defer p.ctl.mu.Unlock()
	w := p.meter.take(now)
	s := cfg.Sizing
	in := w.Estimate.Input(sizing.Input{
		SLO: s.SLO, Quantile: s.Quantile, Headroom: s.Headroom,
		Min: cfg.MinWorkers, Max: cfg.MaxWorkers, Current: p.pool.Cap(),
		DownHysteresis: downHysteresis,
	})
	pressed := p.pressedInWindow.Swap(p.pressed.Load())
	if w.Arrivals == 0 && w.InSystem == 0 && !pressed {
		// The estimator keeps its last rate while nothing arrives; a window
		// with nothing arriving, nothing inside and no backpressure means no
		// load, so the pool may shrink back to its minimum. (Under
		// backpressure nothing arrives either, because producers are told to
		// wait: then the last rate stands.)
		in.Lambda = 0
	}
	if pressed && in.Lambda < p.ctl.lastLambda {
		// While work is refused, what arrives is only what bypasses the
		// water marks (urgent checks): it undercounts the demand, which
		// waits as a backlog. The last rate stands.
		in.Lambda = p.ctl.lastLambda
	}
	if cfg.MaxOpenFiles > 0 && in.Max > cfg.MaxOpenFiles {
		in.Max = max(cfg.MaxOpenFiles, in.Min)
	}
	d := sizing.Recommend(in)
	if d.Err != nil {
		p.log.Error("sizing input rejected; keeping the pool size", "err", d.Err, "workers", in.Current)
		return d
	}
	p.ctl.lastLambda = in.Lambda
	reason := p.guard(cfg, w, in, &d)
	if pressed && d.Direction == sizing.Down {
		// Never shrink with a backlog waiting: the window's service times
		// are the mix that got through, not the work that waits.
		d.Target, d.Direction, reason = in.Current, sizing.Hold, reasonBacklog
	}
	if d.Target != in.Current {
		p.pool.Tune(d.Target)
	}
	if reason == reasonFDLimit && now.Sub(p.ctl.lastFDWarning) >= time.Minute {
		p.ctl.lastFDWarning = now
		p.log.Warn("pool held back by the open-files limit: checks wait and start late; raise ulimit -n (RLIMIT_NOFILE)",
			"pipeline", p.name, "workers", in.Current, "required", d.Required, "open_files_budget", cfg.MaxOpenFiles)
	}

	name := p.name
	wait := d.WaitQuantile
	if s.Quantile == 0 {
		wait = d.WaitMean
	}
	p.m.decisions.WithLabelValues(string(d.Direction), reason).Inc()
	p.m.recommended.Set(float64(d.Desired))
	p.m.arrival.Set(in.Lambda)
	p.m.service.Set(in.MeanService.Seconds())
	p.m.utilised.Set(d.Utilisation)
	p.m.predictedWait.Set(seconds(wait))
	p.m.slo.Set(s.SLO.Seconds())
	p.m.littleL.Set(w.L)
	p.m.littleLambda.Set(w.LambdaW)

	if d.Direction != sizing.Hold {
		p.tracing.Event("sizing "+string(d.Direction),
			attribute.String("cpra.pipeline", name),
			attribute.Int("cpra.workers.from", in.Current), attribute.Int("cpra.workers.to", d.Target),
			attribute.Int("cpra.sizing.required", d.Required),
			attribute.Float64("cpra.sizing.arrival_rate", in.Lambda),
			attribute.Float64("cpra.sizing.mean_service_seconds", in.MeanService.Seconds()),
			attribute.Float64("cpra.sizing.ca2", in.CA2), attribute.Float64("cpra.sizing.cs2", in.CS2),
			attribute.Float64("cpra.sizing.utilisation", d.Utilisation),
			attribute.Float64("cpra.sizing.predicted_wait_seconds", seconds(wait)),
			attribute.Float64("cpra.sizing.slo_seconds", s.SLO.Seconds()),
			attribute.Bool("cpra.sizing.slo_met", d.SLOMet),
			attribute.String("cpra.sizing.reason", reason))
	}
	p.log.Debug("sizing decision", "direction", string(d.Direction), "reason", reason,
		"workers", in.Current, "target", d.Target, "required", d.Required, "desired", d.Desired,
		"arrival_rate", round(in.Lambda), "mean_service", in.MeanService, "ca2", round(in.CA2), "cs2", round(in.CS2),
		"offered_erlangs", round(d.Offered), "utilisation", round(d.Utilisation),
		"predicted_wait", wait, "slo", s.SLO, "quantile", s.Quantile, "slo_met", d.SLOMet,
		"littles_l", round(w.L), "littles_lambda_w", round(w.LambdaW), "window", w.Length.Round(time.Millisecond))
	return d
}

// guard checks a growth the model asks for against what the process can
// use, and may turn it into a hold; it returns the decision's reason. The
// model (Erlang C with Allen–Cunneen) decides while the service time is
// the targets' own; once more workers only slow each other down (CPU
// saturation) or the last growth bought latency rather than throughput,
// growing is refused, and the backlog shows as lag and deferrals instead.
func (p *Pipeline[J, R]) guard(cfg Config, w window, in sizing.Input, d *sizing.Decision) string {
	c := &p.ctl
	s := in.MeanService.Seconds()
	rate := 0.0
	if secs := w.Length.Seconds(); secs > 0 {
		rate = float64(w.Completions) / secs
	}
	cpuWait := c.cpuWait()
	// The no-load service time: the smallest recent mean, let drift up by
	// 1 % a decision so an old minimum does not rule for ever.
	if s > 0 && (c.minService == 0 || s < c.minService) {
		c.minService = s
	} else if c.minService > 0 {
		c.minService *= 1.01
	}
	reason := reasonModel
	if d.Direction == sizing.Up {
		switch {
		case cpuWait > cpuSaturatedWait.Seconds():
			reason = reasonCPUSaturated
		case c.lastUp && s > noGainFactor*c.minService && rate < 1.05*c.lastRate:
			reason = reasonNoGain
		}
		if reason != reasonModel {
			d.Target, d.Direction = in.Current, sizing.Hold
		}
	}
	if reason == reasonModel && d.Desired >= in.Max && d.Required > in.Max {
		reason = reasonMax
		if cfg.MaxOpenFiles > 0 && in.Max == max(cfg.MaxOpenFiles, in.Min) && cfg.MaxOpenFiles < cfg.MaxWorkers {
			reason = reasonFDLimit
		}
	}
	c.lastUp = d.Direction == sizing.Up
	c.lastRate = rate
	return reason
}

// seconds reports a predicted wait; the model's saturation value (an
// unstable queue) becomes +Inf, which Prometheus represents exactly.
func seconds(d time.Duration) float64 {
	if d == time.Duration(math.MaxInt64) {
		return math.Inf(1)
	}
	return d.Seconds()
}

func round(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	return math.Round(x*1000) / 1000
}
