package pipeline

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
)

// MaxBreakerDestinations bounds the distinct `destination` label values of
// a pipeline. Pulse breakers are keyed by host, and a fleet can have very
// many hosts; past the bound, destinations are reported as
// OtherDestination so a bad day cannot explode the series count.
const MaxBreakerDestinations = 1000

// OtherDestination is the label value for destinations past the bound.
const OtherDestination = "_other"

// BreakerSeries are one pipeline's cpra_breaker_* series: transitions and
// refused calls counted, and at scrape time the state of every destination
// with failures on record. Registered, like the pipeline's own series,
// under a constant `pipeline` label.
type BreakerSeries struct {
	transitions *prometheus.CounterVec // {destination, to}
	rejected    *prometheus.CounterVec // {destination}

	mu   sync.Mutex
	seen map[string]bool // destinations with a label of their own
}

// BreakerStates calls f for every destination with failures on record
// (closed breakers with none are left out, so the series follow the
// failing destinations, not the fleet). It must be safe to call from the
// scrape's goroutine.
type BreakerStates func(f func(dest string, st breaker.State))

// NewBreakerSeries registers pipeline's breaker series on reg.
func NewBreakerSeries(reg prometheus.Registerer, pipeline string, states BreakerStates) (*BreakerSeries, error) {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": pipeline}, reg)
	s := &BreakerSeries{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_transitions_total",
			Help: "Circuit breaker state changes, by pipeline, destination and new state (closed, half_open, open).",
		}, []string{"destination", "to"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_rejected_total",
			Help: "Calls not made because the destination's circuit breaker was open.",
		}, []string{"destination"}),
		seen: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{s.transitions, s.rejected, &breakerStates{s, states}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Transition counts a breaker's change of state.
func (s *BreakerSeries) Transition(tr breaker.Transition) {
	s.transitions.WithLabelValues(s.label(tr.Destination), tr.To.String()).Inc()
}

// Rejected counts a call not made because dest's breaker is open.
func (s *BreakerSeries) Rejected(dest string) {
	s.rejected.WithLabelValues(s.label(dest)).Inc()
}

// label is dest's `destination` label: dest itself for the first
// MaxBreakerDestinations destinations, OtherDestination after that.
func (s *BreakerSeries) label(dest string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[dest] {
		return dest
	}
	if len(s.seen) >= MaxBreakerDestinations {
		return OtherDestination
	}
	s.seen[dest] = true
	return dest
}

// breakerStates is cpra_breaker_state, computed at scrape time.
type breakerStates struct {
	s    *BreakerSeries
	each BreakerStates
}

var descBreakerState = prometheus.NewDesc("cpra_breaker_state",
	"Circuit breaker state per destination with failures on record: 0 closed, 1 half-open, 2 open.",
	[]string{"destination"}, nil)

func (c *breakerStates) Describe(ch chan<- *prometheus.Desc) { ch <- descBreakerState }

func (c *breakerStates) Collect(ch chan<- prometheus.Metric) {
	// Destinations folded into OtherDestination report their worst state.
	worst := map[string]breaker.State{}
	c.each(func(dest string, st breaker.State) {
		label := c.s.label(dest)
		if w, ok := worst[label]; !ok || st > w {
			worst[label] = st
		}
	})
	for dest, st := range worst {
		ch <- prometheus.MustNewConstMetric(descBreakerState, prometheus.GaugeValue, float64(st), dest)
	}
}
