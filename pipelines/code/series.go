package code

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/domain"
)

// series are the dispatcher's own families.
type series struct {
	dispatched *prometheus.CounterVec // {code, notifier, result}
	resends    *prometheus.CounterVec // {notifier, result}
	pending    *prometheus.GaugeVec   // {state}
}

func registerSeries(reg prometheus.Registerer) (*series, error) {
	s := &series{
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_codes_dispatched_total",
			Help: "Code delivery attempts by colour, notifier kind and result (success, retry, undeliverable).",
		}, []string{"code", "notifier", "result"}),
		resends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_code_resends_total",
			Help: "Firing codes re-sent to receivers that keep them active (Alertmanager), by notifier kind and result (success, failure, skipped: a code for the monitor was still being delivered, or the receiver's breaker was open).",
		}, []string{"notifier", "result"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_codes_pending",
			Help: "Codes not delivered yet, by where they wait: in_flight (queued or running in the code pipeline), ready (their turn at the queue not come: the destination's share is used, or backpressure), retrying (waiting out a backoff), held (their receiver's breaker is open), behind (after another code for the same subject and receiver).",
		}, []string{"state"}),
	}
	for _, c := range []prometheus.Collector{s.dispatched, s.resends, s.pending} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// InitSeries creates cpra_codes_dispatched_total and
// cpra_code_resends_total at zero for every colour, result and the given
// notifier kinds, so rate() and increase() see the first delivery, retry,
// give-up or re-send (a series born at 1 looks like no change). Call it
// before the first scrape.
func (d *Dispatcher) InitSeries(notifierKinds []string) {
	for _, n := range notifierKinds {
		for _, r := range []string{"success", "failure", "skipped"} {
			d.m.resends.WithLabelValues(n, r)
		}
	}
	for _, c := range domain.All {
		for _, n := range notifierKinds {
			for _, r := range []string{"success", "retry", "undeliverable"} {
				d.m.dispatched.WithLabelValues(c.String(), n, r)
			}
		}
	}
}
