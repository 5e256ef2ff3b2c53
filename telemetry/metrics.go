package telemetry

import (
	"sync"

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

	QueueEnqueued *prometheus.CounterVec   // {pipeline}
	QueueDequeued *prometheus.CounterVec   // {pipeline}
	QueueDropped  *prometheus.CounterVec   // {pipeline,reason}
	QueueWait     *prometheus.HistogramVec // {pipeline}
	Deferred      *prometheus.CounterVec   // {pipeline}

	BackpressureHigh *prometheus.GaugeVec // {pipeline}, in jobs
	BackpressureLow  *prometheus.GaugeVec // {pipeline}, in jobs

	BreakerTransitions *prometheus.CounterVec // {pipeline,destination,to}
	BreakerRejected    *prometheus.CounterVec // {pipeline,destination}

	PoolMinWorkers *prometheus.GaugeVec // {pipeline}
	PoolMaxWorkers *prometheus.GaugeVec // {pipeline}

	SizingRecommended   *prometheus.GaugeVec   // {pipeline}
	SizingArrivalRate   *prometheus.GaugeVec   // {pipeline}
	SizingServiceTime   *prometheus.GaugeVec   // {pipeline}
	SizingUtilization   *prometheus.GaugeVec   // {pipeline}
	SizingPredictedWait *prometheus.GaugeVec   // {pipeline}
	SizingSLO           *prometheus.GaugeVec   // {pipeline}
	SizingDecisions     *prometheus.CounterVec // {pipeline,direction,reason}
	LittleL             *prometheus.GaugeVec   // {pipeline}
	LittleLambdaW       *prometheus.GaugeVec   // {pipeline}
	AlertmanagerWebhook *WebhookMetrics        // cpra_alertmanager_webhook_*, in webhook.go

	pipes    *pipelineCollector
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
		QueueEnqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_queue_enqueued_total",
			Help: "Jobs accepted by a pipeline's queue.",
		}, []string{"pipeline"}),
		QueueDequeued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_queue_dequeued_total",
			Help: "Jobs taken from a pipeline's queue by its workers.",
		}, []string{"pipeline"}),
		QueueDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_queue_dropped_total",
			Help: "Jobs a pipeline gave up on, by reason.",
		}, []string{"pipeline", "reason"}),
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cpra_queue_wait_seconds",
			Help:    "Time jobs spend in a pipeline's queue before a worker starts them.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10},
		}, []string{"pipeline"}),
		Deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_backpressure_deferred_total",
			Help: "Jobs a pipeline refused at its high water mark (counted once per job); they wait and are offered again, never dropped.",
		}, []string{"pipeline"}),
		BackpressureHigh: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_backpressure_high_water_mark",
			Help: "Queue depth (jobs) at which a pipeline starts refusing new work.",
		}, []string{"pipeline"}),
		BackpressureLow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_backpressure_low_water_mark",
			Help: "Queue depth (jobs) a pipeline must drain to before it accepts work again.",
		}, []string{"pipeline"}),
		BreakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_transitions_total",
			Help: "Circuit breaker state changes, by pipeline, destination and new state (closed, half_open, open).",
		}, []string{"pipeline", "destination", "to"}),
		BreakerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_breaker_rejected_total",
			Help: "Calls not made because the destination's circuit breaker was open.",
		}, []string{"pipeline", "destination"}),
		PoolMinWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_pool_min_workers",
			Help: "Lower bound of a pipeline's worker pool (workers.min).",
		}, []string{"pipeline"}),
		PoolMaxWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_pool_max_workers",
			Help: "Upper bound of a pipeline's worker pool (workers.max).",
		}, []string{"pipeline"}),
		SizingRecommended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_recommended_workers",
			Help: "Workers the queueing model asks for: the smallest pool meeting the wait SLO, plus headroom, clamped to the bounds.",
		}, []string{"pipeline"}),
		SizingArrivalRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_arrival_rate",
			Help: "Estimated arrival rate of jobs (per second), exponentially weighted.",
		}, []string{"pipeline"}),
		SizingServiceTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_service_time_seconds",
			Help: "Estimated mean service time of a job, exponentially weighted.",
		}, []string{"pipeline"}),
		SizingUtilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_utilization",
			Help: "Predicted utilisation of the pool at its current size: arrival rate times service time over workers.",
		}, []string{"pipeline"}),
		SizingPredictedWait: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_predicted_wait_seconds",
			Help: "Predicted queue wait at the configured quantile for the current pool size (Erlang C with the Allen-Cunneen correction).",
		}, []string{"pipeline"}),
		SizingSLO: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_slo_seconds",
			Help: "The queue-wait target the pool is sized for (sizing.slo), at the quantile of sizing.quantile.",
		}, []string{"pipeline"}),
		SizingDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_sizing_decisions_total",
			Help: "Sizing decisions by direction (up, down, hold) and reason: model (the queueing model decided), cpu_saturated (growth refused: goroutines already wait for a CPU), no_gain (growth refused: the last growth raised service time, not throughput), max (clamped at workers.max), fd_limit (clamped by the open-files limit).",
		}, []string{"pipeline", "direction", "reason"}),
		LittleL: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_littles_law_l",
			Help: "Measured time-average number of jobs in a pipeline (queued and running) over the last sizing interval: L in Little's law.",
		}, []string{"pipeline"}),
		LittleLambdaW: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpra_sizing_littles_law_lambda_w",
			Help: "Measured arrival rate times mean time in the pipeline over the last sizing interval: lambda*W in Little's law; equals L when the model holds.",
		}, []string{"pipeline"}),
		pipes:    &pipelineCollector{},
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
		m.QueueEnqueued, m.QueueDequeued, m.QueueDropped, m.QueueWait, m.Deferred,
		m.BackpressureHigh, m.BackpressureLow,
		m.BreakerTransitions, m.BreakerRejected,
		m.PoolMinWorkers, m.PoolMaxWorkers,
		m.SizingRecommended, m.SizingArrivalRate, m.SizingServiceTime, m.SizingUtilization,
		m.SizingPredictedWait, m.SizingSLO, m.SizingDecisions, m.LittleL, m.LittleLambdaW,
		m.pipes, m.breakers,
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

// PipelineStats is a pipeline's instantaneous state, read at scrape time.
type PipelineStats struct {
	Depth, Capacity  int
	Workers, Running int
	Backpressure     bool
}

// RegisterPipeline makes a pipeline's queue and pool gauges part of every
// scrape. stats must be cheap and safe to call from any goroutine.
func (m *Metrics) RegisterPipeline(name string, stats func() PipelineStats) {
	m.pipes.mu.Lock()
	defer m.pipes.mu.Unlock()
	m.pipes.sources = append(m.pipes.sources, pipelineSource{name, stats})
	// Pre-create the counters so every pipeline shows zeros from the start.
	m.QueueEnqueued.WithLabelValues(name)
	m.QueueDequeued.WithLabelValues(name)
	m.Deferred.WithLabelValues(name)
	for _, reason := range []string{"shutdown", "pool_closed"} {
		m.QueueDropped.WithLabelValues(name, reason)
	}
	for _, d := range []string{"up", "down", "hold"} {
		m.SizingDecisions.WithLabelValues(name, d, "model")
	}
}

type pipelineSource struct {
	name  string
	stats func() PipelineStats
}

// pipelineCollector reports queue depth and pool size as gauges computed at
// scrape time, so nothing on the hot path updates them.
type pipelineCollector struct {
	mu      sync.Mutex
	sources []pipelineSource
}

var (
	descDepth    = prometheus.NewDesc("cpra_queue_depth", "Jobs waiting in a pipeline's queue.", []string{"pipeline"}, nil)
	descCapacity = prometheus.NewDesc("cpra_queue_capacity", "Capacity of a pipeline's queue.", []string{"pipeline"}, nil)
	descWorkers  = prometheus.NewDesc("cpra_pool_workers", "Current capacity of a pipeline's worker pool.", []string{"pipeline"}, nil)
	descRunning  = prometheus.NewDesc("cpra_pool_running", "Workers of a pipeline busy right now.", []string{"pipeline"}, nil)
	descActive   = prometheus.NewDesc("cpra_backpressure_active",
		"Whether a pipeline is refusing new work (1) because its queue reached the high water mark and has not yet drained to the low one.",
		[]string{"pipeline"}, nil)
)

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descCapacity
	ch <- descWorkers
	ch <- descRunning
	ch <- descActive
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := append([]pipelineSource(nil), c.sources...)
	c.mu.Unlock()
	for _, s := range sources {
		st := s.stats()
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(st.Depth), s.name)
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(st.Capacity), s.name)
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(st.Workers), s.name)
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(st.Running), s.name)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, boolValue(st.Backpressure), s.name)
	}
}
