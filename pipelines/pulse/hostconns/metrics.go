package hostconns

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the limits' families. None has a host label: a fleet may
// have a million hosts.
type metrics struct {
	changes      *prometheus.CounterVec // {direction,reason}
	waits        prometheus.Counter
	waitTimeouts prometheus.Counter
	waited       prometheus.Histogram
}

func (m *metrics) register(reg prometheus.Registerer, l *Limits) error {
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpra_host_connections_limit_changes_total",
		Help: "Decisions about a host's connection limit, by direction (up, down; hold: a check found the limit reached and it could not grow) and reason (demand: Little's law or checks waiting; ceiling: max_connections_per_host; fd_limit: the open-files budget).",
	}, []string{"direction", "reason"})
	for _, dir := range []string{"up", "down", "hold"} {
		for _, reason := range []string{ReasonDemand, ReasonCeiling, ReasonFDLimit} {
			m.changes.WithLabelValues(dir, reason) // every series from the start, at 0
		}
	}
	m.waits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpra_host_connections_slot_waits_total",
		Help: "Checks that found their host's connection limit reached and waited for a slot (the agent's time, not charged to the target).",
	})
	m.waitTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpra_host_connections_slot_wait_timeouts_total",
		Help: "Checks that got no connection slot within their timeout: inconclusive (local_pool), the target was not asked.",
	})
	m.waited = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cpra_host_connections_slot_wait_seconds",
		Help:    "How long checks that had to wait waited for a connection slot.",
		Buckets: []float64{.001, .005, .025, .1, .5, 1, 2.5, 5, 10},
	})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		m.changes, m.waits, m.waitTimeouts, m.waited,
		gauge("cpra_host_connections_hosts", "Hosts whose connection limit is held: those with checks in flight and those that grew.",
			func() float64 { h, _, _, _ := l.stats(); return float64(h) }),
		gauge("cpra_host_connections_limit", "Sum of the held hosts' connection limits.",
			func() float64 { _, s, _, _ := l.stats(); return float64(s) }),
		gauge("cpra_host_connections_in_use", "Connection slots held by checks in flight.",
			func() float64 { _, _, u, _ := l.stats(); return float64(u) }),
		gauge("cpra_host_connections_waiting", "Checks waiting for a connection slot.",
			func() float64 { _, _, _, w := l.stats(); return float64(w) }),
		gauge("cpra_host_connections_max_per_host", "The agent-wide ceiling of one host's connection limit (max_connections_per_host).",
			func() float64 { return float64(l.cfg.Max) }),
		gauge("cpra_host_connections_budget", "What the open-files limit leaves for all hosts' connections together; 0: unbounded.",
			func() float64 { return float64(l.cfg.Budget) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // a second Limits on one registry (tests): keep the first's
			}
			return err
		}
	}
	return nil
}
