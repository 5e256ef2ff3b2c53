package sizing

import (
	"errors"
	"math"
	"time"
)

// Direction says which way a pool should be resized.
type Direction string

const (
	Up   Direction = "up"
	Down Direction = "down"
	Hold Direction = "hold"
)

// DefaultSearchLimit bounds the search for the required number of servers
// when Input.Max is not set, so a degenerate SLO cannot loop for ever.
const DefaultSearchLimit = 1 << 24

// Input describes one pipeline for Recommend.
type Input struct {
	Lambda      float64       // arrival rate, per second
	MeanService time.Duration // mean service time E[S]
	CA2         float64       // squared coefficient of variation of inter-arrival times (1 for Poisson)
	CS2         float64       // squared coefficient of variation of service times (1 for exponential)

	SLO      time.Duration // target wait in queue at Quantile
	Quantile float64       // e.g. 0.95; 0 means the SLO applies to the mean wait

	Headroom float64 // extra fraction on top of the required servers, e.g. 0.15
	Min, Max int     // clamp for the target; Max ≤ 0 means no upper bound
	Current  int     // current pool size

	// DownHysteresis is the fraction of Current by which the target must be
	// below Current before scaling down, e.g. 0.10.
	DownHysteresis float64
}

// Validate reports whether the input can be used.
func (in Input) Validate() error {
	switch {
	case math.IsNaN(in.Lambda) || math.IsInf(in.Lambda, 0) || in.Lambda < 0:
		return errors.New("sizing: Lambda must be finite and ≥ 0")
	case in.MeanService < 0:
		return errors.New("sizing: MeanService must be ≥ 0")
	case math.IsNaN(in.CA2) || math.IsNaN(in.CS2) || in.CA2 < 0 || in.CS2 < 0:
		return errors.New("sizing: CA2 and CS2 must be ≥ 0")
	case in.SLO < 0:
		return errors.New("sizing: SLO must be ≥ 0")
	case !(in.Quantile >= 0 && in.Quantile < 1):
		return errors.New("sizing: Quantile must be in [0, 1)")
	case !(in.Headroom >= 0) || math.IsInf(in.Headroom, 0):
		return errors.New("sizing: Headroom must be finite and ≥ 0")
	case !(in.DownHysteresis >= 0 && in.DownHysteresis < 1):
		return errors.New("sizing: DownHysteresis must be in [0, 1)")
	case in.Min < 0 || (in.Max > 0 && in.Max < in.Min):
		return errors.New("sizing: need 0 ≤ Min ≤ Max")
	}
	return nil
}

// Decision is the result of Recommend.
type Decision struct {
	Offered  float64 // a = λ·E[S], Erlangs
	Required int     // smallest c meeting the SLO, before headroom and clamping
	SLOMet   bool    // false if no c ≤ Max (or ≤ DefaultSearchLimit) meets the SLO
	Desired  int     // ceil(Required·(1+Headroom)) clamped to [Min, Max]
	Target   int     // size to run: Desired, or Current when hysteresis holds
	Direction

	// Predictions at Target (Allen–Cunneen corrected). Waits saturate at
	// the largest time.Duration when the queue would be unstable (ρ ≥ 1).
	Utilisation  float64 // ρ = a / Target
	WaitMean     time.Duration
	WaitQuantile time.Duration

	Err error // non-nil if the input was invalid; then Target = Current
}

// Recommend sizes one pool. See the package comment for the model.
func Recommend(in Input) Decision {
	if err := in.Validate(); err != nil {
		return Decision{Target: in.Current, Direction: Hold, Err: err}
	}
	q := newQueue(in)
	d := Decision{Offered: q.a}
	d.Required, d.SLOMet = q.required(in.SLO.Seconds(), searchLimit(in))
	if in.Max > 0 && d.Required > in.Max {
		d.SLOMet = false // even the smallest stable size is above Max
	}
	d.Desired = clamp(withHeadroom(d.Required, in.Headroom), in.Min, in.Max)

	d.Direction = ScaleDirection(in.Current, d.Desired, in.DownHysteresis)
	if in.Max > 0 && in.Current > in.Max || in.Current < in.Min {
		// Out of bounds: always move into [Min, Max], hysteresis or not.
		d.Direction = ScaleDirection(in.Current, d.Desired, 0)
	}
	d.Target = in.Current
	if d.Direction != Hold {
		d.Target = d.Desired
	}

	mean, quant := q.predict(d.Target)
	d.WaitMean, d.WaitQuantile = toDuration(mean), toDuration(quant)
	d.Utilisation = math.Inf(1)
	if d.Target > 0 {
		d.Utilisation = q.a / float64(d.Target)
	}
	if q.a == 0 {
		d.Utilisation = 0
	}
	return d
}

// ScaleDirection is the hysteresis rule: scale up whenever desired > current;
// scale down only when desired is below current by more than
// downFraction·current; otherwise hold. Scaling down is lazy because an
// oversized pool costs little while flapping costs restarts.
func ScaleDirection(current, desired int, downFraction float64) Direction {
	switch {
	case desired > current:
		return Up
	case float64(current-desired) > downFraction*float64(current):
		return Down
	default:
		return Hold
	}
}

// queue holds the per-call constants of the G/G/c model.
type queue struct {
	lambda, mu, a float64
	factor        float64 // Allen–Cunneen
	quantile      float64 // 0: use the mean
}

func newQueue(in Input) queue {
	q := queue{lambda: in.Lambda, factor: AllenCunneen(in.CA2, in.CS2), quantile: in.Quantile}
	if s := in.MeanService.Seconds(); s > 0 {
		q.mu = 1 / s
		q.a = in.Lambda * s
	}
	return q
}

// wait returns the predicted (mean, quantile) wait in seconds at c servers
// given the Erlang C value there.
func (q queue) wait(c int, erlangC float64) (mean, quant float64) {
	mean = q.factor * meanWaitC(c, q.lambda, q.mu, erlangC)
	if q.quantile > 0 {
		quant = q.factor * waitQuantileC(c, q.lambda, q.mu, q.quantile, erlangC)
	} else {
		quant = mean
	}
	return mean, quant
}

// predict returns the predicted waits at c servers, +Inf if unstable.
func (q queue) predict(c int) (mean, quant float64) {
	if q.a == 0 {
		return 0, 0
	}
	if float64(c) <= q.a {
		return math.Inf(1), math.Inf(1)
	}
	return q.wait(c, ErlangC(c, q.a))
}

// required walks c upward from floor(a)+1, the smallest stable size,
// updating Erlang B by its recurrence in O(1) per step. The predicted wait
// decreases in c, so the first c within the SLO is the smallest.
func (q queue) required(slo float64, limit int) (int, bool) {
	if q.a == 0 {
		return 0, true // no load: no servers needed (Min still applies)
	}
	c0 := int(math.Floor(q.a)) + 1
	b := ErlangB(c0, q.a)
	for c := c0; ; c++ {
		if c > c0 {
			b = nextB(c, q.a, b)
		}
		_, w := q.wait(c, erlangCFromB(c, q.a, b))
		if w <= slo {
			return c, true
		}
		if c >= limit {
			return c, false
		}
	}
}

// searchLimit: beyond Max every answer clamps to Max, so stop there.
func searchLimit(in Input) int {
	if in.Max > 0 {
		return in.Max
	}
	return DefaultSearchLimit
}

// withHeadroom returns ceil(c·(1+h)); the small epsilon stops float noise
// such as 100·1.1 = 110.00000000000001 from adding a whole server.
func withHeadroom(c int, h float64) int {
	return int(math.Ceil(float64(c)*(1+h) - 1e-9))
}

func clamp(c, lo, hi int) int {
	if hi > 0 && c > hi {
		c = hi
	}
	return max(c, lo)
}

// toDuration converts seconds to a Duration, saturating instead of overflowing.
func toDuration(sec float64) time.Duration {
	if sec >= float64(math.MaxInt64)/1e9 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(sec * 1e9))
}
