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

// Metrics holds the agent's own cpra_* families: the monitors, checks,
// interventions, reloads and state writes the owner and the agent count.
// The engine registers its own on Registry (pipeline.New, the breakers,
// code.NewDispatcher), as the kinds do (kind.Deps.Registerer).
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
	// InterventionsWaiting are interventions the intervention queue has
	// not accepted yet (backpressure), kept by the owner.
	InterventionsWaiting prometheus.Gauge

	StateWrites        *prometheus.CounterVec // {result}
	StateBytes         prometheus.Gauge
	StateWriteDuration prometheus.Gauge
	StateLastWrite     prometheus.Gauge

	AlertmanagerWebhook *WebhookMetrics // cpra_alertmanager_webhook_*, in webhook.go
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
	}
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
		m.Interventions, m.InterventionsWaiting,
		m.StateWrites, m.StateBytes, m.StateWriteDuration, m.StateLastWrite,
	)
	return m
}

// InitSeries creates the state writes' series at zero, so
// CPRAStateWriteFailing sees the first failure.
func (m *Metrics) InitSeries() {
	for _, r := range []string{"success", "failure"} {
		m.StateWrites.WithLabelValues(r)
	}
}
