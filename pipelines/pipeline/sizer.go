package pipeline

import (
	"math"
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
	d := sizing.Recommend(in)
	if d.Err != nil {
		p.log.Error("sizing input rejected; keeping the pool size", "err", d.Err, "workers", in.Current)
		return d
	}
	if d.Target != in.Current {
		p.pool.Tune(d.Target)
	}

	name := p.name
	wait := d.WaitQuantile
	if s.Quantile == 0 {
		wait = d.WaitMean
	}
	p.m.SizingDecisions.WithLabelValues(name, string(d.Direction)).Inc()
	p.m.SizingRecommended.WithLabelValues(name).Set(float64(d.Desired))
	p.m.SizingArrivalRate.WithLabelValues(name).Set(in.Lambda)
	p.m.SizingServiceTime.WithLabelValues(name).Set(in.MeanService.Seconds())
	p.m.SizingUtilization.WithLabelValues(name).Set(d.Utilisation)
	p.m.SizingPredictedWait.WithLabelValues(name).Set(seconds(wait))
	p.m.SizingSLO.WithLabelValues(name).Set(s.SLO.Seconds())
	p.m.LittleL.WithLabelValues(name).Set(w.L)
	p.m.LittleLambdaW.WithLabelValues(name).Set(w.LambdaW)

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
			attribute.Bool("cpra.sizing.slo_met", d.SLOMet))
	}
	p.log.Debug("sizing decision", "direction", string(d.Direction),
		"workers", in.Current, "target", d.Target, "required", d.Required, "desired", d.Desired,
		"arrival_rate", round(in.Lambda), "mean_service", in.MeanService, "ca2", round(in.CA2), "cs2", round(in.CS2),
		"offered_erlangs", round(d.Offered), "utilisation", round(d.Utilisation),
		"predicted_wait", wait, "slo", s.SLO, "quantile", s.Quantile, "slo_met", d.SLOMet,
		"littles_l", round(w.L), "littles_lambda_w", round(w.LambdaW), "window", w.Length.Round(time.Millisecond))
	return d
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
