package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxBreakerDestinations bounds the distinct `destination` label values per
// pipeline. Pulse breakers are keyed by host, and a fleet can have very many
// hosts; past the bound, destinations are reported as OtherDestination so a
// bad day cannot explode the series count.
const MaxBreakerDestinations = 1000

// OtherDestination is the label value for destinations past the bound.
const OtherDestination = "_other"

// destinationLabels remembers which destinations have a label of their own.
type destinationLabels struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // pipeline -> destination
}

// BreakerDestination returns the `destination` label value to use for dest:
// dest itself for the first MaxBreakerDestinations destinations of a
// pipeline, OtherDestination after that.
func (m *Metrics) BreakerDestination(pipeline, dest string) string {
	d := &m.dests
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := d.seen[pipeline]
	if seen == nil {
		seen = map[string]bool{}
		d.seen[pipeline] = seen
	}
	if seen[dest] {
		return dest
	}
	if len(seen) >= MaxBreakerDestinations {
		return OtherDestination
	}
	seen[dest] = true
	return dest
}

// BreakerState is one destination's breaker, for cpra_breaker_state.
type BreakerState struct {
	Destination string
	State       int // 0 closed, 1 half-open, 2 open
}

// RegisterBreakers makes a pipeline's breaker states part of every scrape.
// each must call f for every destination with failures on record (closed
// breakers with none are not reported, so the series count follows the
// failing destinations, not the fleet).
func (m *Metrics) RegisterBreakers(pipeline string, each func(f func(BreakerState))) {
	m.breakers.mu.Lock()
	defer m.breakers.mu.Unlock()
	m.breakers.sources = append(m.breakers.sources, breakerSource{pipeline, each})
}

type breakerSource struct {
	pipeline string
	each     func(f func(BreakerState))
}

type breakerCollector struct {
	mu      sync.Mutex
	sources []breakerSource
	m       *Metrics
}

var descBreakerState = prometheus.NewDesc("cpra_breaker_state",
	"Circuit breaker state per destination with failures on record: 0 closed, 1 half-open, 2 open.",
	[]string{"pipeline", "destination"}, nil)

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descBreakerState }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := append([]breakerSource(nil), c.sources...)
	c.mu.Unlock()
	for _, s := range sources {
		// Destinations folded into OtherDestination report their worst state.
		worst := map[string]int{}
		s.each(func(b BreakerState) {
			label := c.m.BreakerDestination(s.pipeline, b.Destination)
			if st, ok := worst[label]; !ok || b.State > st {
				worst[label] = b.State
			}
		})
		for dest, st := range worst {
			ch <- prometheus.MustNewConstMetric(descBreakerState, prometheus.GaugeValue, float64(st), s.pipeline, dest)
		}
	}
}
