package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Pipeline names, the values of the `pipeline` label.
const (
	PipelinePulse        = "pulse"
	PipelineIntervention = "intervention"
	PipelineCode         = "code"
)

// Metrics holds every cpra_* family. Constructors take it (or the part they
// need) instead of registering globals.
type Metrics struct {
	Registry *prometheus.Registry

	ReloadSuccessful prometheus.Gauge
	ReloadTimestamp  prometheus.Gauge
	Monitors         *prometheus.GaugeVec // {state}

	Checks *prometheus.CounterVec // {type,result}
	// ChecksInconclusive counts checks whose outcome said nothing about
	// their target, by why (see pulse.Result.Inconclusive).
	ChecksInconclusive *prometheus.CounterVec   // {type,reason}
	CheckDuration      *prometheus.HistogramVec // {type}
	ScheduleLag        prometheus.Histogram
	ScheduleLagRatio   prometheus.Histogram // lag in intervals of the monitor

	Interventions *prometheus.CounterVec // {type,result}
	Codes         *prometheus.CounterVec // {code,notifier,result}
	CodeResends   *prometheus.CounterVec // {notifier,result}
	// CodesPending is the code pipeline's backlog by where each code waits.
	CodesPending *prometheus.GaugeVec // {state}
	// InterventionsWaiting are interventions the intervention queue has
	// not accepted yet (backpressure), kept by the owner.
	InterventionsWaiting prometheus.Gauge

	StateWrites        *prometheus.CounterVec // {result}
	StateBytes         prometheus.Gauge
	StateWriteDuration prometheus.Gauge
	StateLastWrite     prometheus.Gauge

	BreakerTransitions *prometheus.CounterVec // {pipeline,destination,to}
	BreakerRejected    *prometheus.CounterVec // {pipeline,destination}

	AlertmanagerWebhook *WebhookMetrics // cpra_alertmanager_webhook_*, in webhook.go

	breakers *breakerCollector
	dests    destinationLabels
}

// NewMetrics registers every family, plus the Go runtime and process
// collectors, on a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		ReloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful (1) or not (0).",
		}),
		ReloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
		Monitors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_monitors",
			Help: "Number of monitors in each incident state.",
		}, []string{"state"}),
		Checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_checks_total",
			Help: "Checks completed, by check type and result (success, failure, or inconclusive: the agent could not finish it for a reason of its own, so it counts neither for nor against the monitor).",
		}, []string{"type", "result"}),
		ChecksInconclusive: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_checks_inconclusive_total",
			Help: "Checks that counted neither for nor against their monitor, by check type and reason: local_pool (got no connection slot to its host within its timeout: the target was not asked), starved (the process was starved of CPU: the check saw its deadline long after it passed), open_files (the process ran out of file descriptors), host_down (no answer from a host whose breaker is open: in flight when it opened, or a failed trial; the host's code covers it). Such a check is retried within a second, before routine checks.",
		}, []string{"type", "reason"}),
		CheckDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cpra_check_duration_seconds",
			Help:    "Duration of checks, retries included, by check type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type"}),
		ScheduleLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cpra_schedule_lag_seconds",
			Help:    "Time between a check's due time and its start.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		ScheduleLagRatio: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cpra_schedule_lag_intervals",
			Help:    "Time between a check's due time and its start, in intervals of its monitor: 1 means a whole interval late (a check skipped).",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2, 5, 10},
		}),
		Interventions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_interventions_total",
			Help: "Interventions completed (all retries), by intervention type and result (success, failure).",
		}, []string{"type", "result"}),
		Codes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_codes_dispatched_total",
			Help: "Code delivery attempts by colour, notifier kind and result (success, retry, undeliverable).",
		}, []string{"code", "notifier", "result"}),
		CodeResends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_code_resends_total",
			Help: "Firing codes re-sent to receivers that keep them active (Alertmanager), by notifier kind and result (success, failure, skipped: a code for the monitor was still being delivered, or the receiver's breaker was open).",
		}, []string{"notifier", "result"}),
		CodesPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_codes_pending",
			Help: "Codes not delivered yet, by where they wait: in_flight (queued or running in the code pipeline), ready (their turn at the queue not come: the destination's share is used, or backpressure), retrying (waiting out a backoff), held (their receiver's breaker is open), behind (after another code for the same subject and receiver).",
		}, []string{"state"}),
		InterventionsWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_interventions_waiting",
			Help: "Interventions waiting for the intervention queue to accept them (backpressure); at most one per monitor.",
		}),
		StateWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_state_writes_total",
			Help: "Writes of the state directory's file, by result (success, failure).",
		}, []string{"result"}),
		StateBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_state_bytes",
			Help: "Size of the state file last written.",
		}),
		StateWriteDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_state_write_duration_seconds",
			Help: "How long the last state write took: the owner's snapshot, encoding and the atomic write.",
		}),
		StateLastWrite: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpra_state_last_write_timestamp_seconds",
			Help: "When the state file was last written successfully.",
		}),
		BreakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_transitions_total",
			Help: "Circuit breaker state changes, by pipeline, destination and new state (closed, half_open, open).",
		}, []string{"pipeline", "destination", "to"}),
		BreakerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_rejected_total",
			Help: "Calls not made because the destination's circuit breaker was open.",
		}, []string{"pipeline", "destination"}),
		breakers: &breakerCollector{},
		dests:    destinationLabels{seen: map[string]map[string]bool{}},
	}
	m.breakers.m = m
	m.AlertmanagerWebhook = newWebhookMetrics(m)
	b := Build()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cpra_build_info",
		Help:        "Build information of the running agent; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewBuildInfoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.ReloadSuccessful, m.ReloadTimestamp, m.Monitors,
		m.Checks, m.ChecksInconclusive, m.CheckDuration, m.ScheduleLag, m.ScheduleLagRatio,
		m.Interventions, m.Codes, m.CodeResends, m.CodesPending, m.InterventionsWaiting,
		m.StateWrites, m.StateBytes, m.StateWriteDuration, m.StateLastWrite,
		m.BreakerTransitions, m.BreakerRejected,
		m.breakers,
	)
	return m
}

// InitCodeSeries creates cpra_codes_dispatched_total at zero for every
// colour, notifier kind and result, so rate() and increase() see the first
// delivery, retry or give-up (a series born at 1 looks like no change).
func (m *Metrics) InitCodeSeries(codes, notifiers []string) {
	for _, r := range []string{"success", "failure"} {
		m.StateWrites.WithLabelValues(r) // the state's writes too: CPRAStateWriteFailing sees the first failure
	}
	for _, c := range codes {
		for _, n := range notifiers {
			for _, r := range []string{"success", "retry", "undeliverable"} {
				m.Codes.WithLabelValues(c, n, r)
			}
		}
	}
}
