package sizing

import (
	"math"
	"time"
)

// DefaultMinSamples is how many samples an Estimator needs before it reports
// a measured squared coefficient of variation instead of the default 1.
const DefaultMinSamples = 30

// AlphaForHalfLife returns the per-sample smoothing factor whose weights halve
// every n samples: 1 − 2^(−1/n).
func AlphaForHalfLife(n float64) float64 {
	if n <= 0 {
		return 1
	}
	return 1 - math.Exp2(-1/n)
}

// moments is an exponentially weighted mean and second moment. For the first
// 1/alpha samples it uses the plain running average (weight 1/n), so early
// estimates are unbiased rather than pulled towards a zero start.
type moments struct {
	n      int
	m1, m2 float64
}

func (m *moments) add(x, alpha float64) {
	m.n++
	w := max(alpha, 1/float64(m.n))
	m.m1 += w * (x - m.m1)
	m.m2 += w * (x*x - m.m2)
}

// scv returns the squared coefficient of variation m2/m1² − 1, or 1 (the
// exponential/Poisson value) until there are minSamples samples.
func (m moments) scv(minSamples int) float64 {
	if m.n < minSamples || m.m1 <= 0 {
		return 1
	}
	return max(m.m2/(m.m1*m.m1)-1, 0)
}

// Estimator keeps exponentially weighted estimates of a pipeline's arrival
// and service processes. The zero value is not usable; use NewEstimator.
// It is not safe for concurrent use.
//
// λ is updated only when an arrival is observed, so after traffic stops the
// last rate persists until the next arrival; callers that need decay while
// idle should feed a synthetic arrival or treat a stale snapshot as zero load.
type Estimator struct {
	alpha      float64
	minSamples int

	lastArrival time.Time
	seen        bool
	inter       moments // inter-arrival times, seconds
	service     moments // service times, seconds
}

// NewEstimator returns an Estimator with per-sample smoothing factor alpha in
// (0, 1] (see AlphaForHalfLife) and DefaultMinSamples.
func NewEstimator(alpha float64) *Estimator {
	if !(alpha > 0 && alpha <= 1) {
		alpha = 1
	}
	return &Estimator{alpha: alpha, minSamples: DefaultMinSamples}
}

// SetMinSamples changes how many samples are needed before measured squared
// coefficients of variation replace the default of 1.
func (e *Estimator) SetMinSamples(n int) { e.minSamples = max(n, 1) }

// ObserveArrival records an arrival at t. Arrivals earlier than the previous
// one (clock skew, reordering) are dropped rather than producing negative gaps.
func (e *Estimator) ObserveArrival(t time.Time) {
	if !e.seen {
		e.lastArrival, e.seen = t, true
		return
	}
	if t.Before(e.lastArrival) {
		// Arrivals stamped with their due times come slightly out of order
		// (a scheduler tick holds many): count it as arriving together
		// with the last one, so the number of arrivals over the span, and
		// so the rate, stays right.
		e.inter.add(0, e.alpha)
		return
	}
	e.inter.add(t.Sub(e.lastArrival).Seconds(), e.alpha)
	e.lastArrival = t
}

// ObserveService records one completed service time; negative ones are dropped.
func (e *Estimator) ObserveService(d time.Duration) {
	if d < 0 {
		return
	}
	e.service.add(d.Seconds(), e.alpha)
}

// Snapshot is a point-in-time view of an Estimator.
type Snapshot struct {
	Lambda        float64       // arrivals per second; 0 until two arrivals
	MeanService   time.Duration // 0 until a service is observed
	CA2, CS2      float64       // 1 until MinSamples samples
	Interarrivals int           // number of inter-arrival samples
	Services      int           // number of service samples
}

// Snapshot returns the current estimates.
func (e *Estimator) Snapshot() Snapshot {
	s := Snapshot{
		MeanService:   toDuration(e.service.m1),
		CA2:           e.inter.scv(e.minSamples),
		CS2:           e.service.scv(e.minSamples),
		Interarrivals: e.inter.n,
		Services:      e.service.n,
	}
	if e.inter.n > 0 && e.inter.m1 > 0 {
		s.Lambda = 1 / e.inter.m1
	}
	return s
}

// Input returns a Recommend input with the estimated traffic filled in and
// the policy fields taken from policy.
func (s Snapshot) Input(policy Input) Input {
	policy.Lambda, policy.MeanService = s.Lambda, s.MeanService
	policy.CA2, policy.CS2 = s.CA2, s.CS2
	return policy
}
