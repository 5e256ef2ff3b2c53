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

	Checks        *prometheus.CounterVec   // {type,result}
	CheckDuration *prometheus.HistogramVec // {type}
	ScheduleLag   prometheus.Histogram

	Interventions *prometheus.CounterVec // {type,result}
	Codes         *prometheus.CounterVec // {code,notifier,result}

	QueueEnqueued *prometheus.CounterVec   // {pipeline}
	QueueDequeued *prometheus.CounterVec   // {pipeline}
	QueueDropped  *prometheus.CounterVec   // {pipeline,reason}
	QueueWait     *prometheus.HistogramVec // {pipeline}
	Deferred      *prometheus.CounterVec   // {pipeline}

	pipes *pipelineCollector
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
			Help: "Checks completed, by check type and result (success, failure).",
		}, []string{"type", "result"}),
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
		Interventions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_interventions_total",
			Help: "Interventions completed (all retries), by intervention type and result (success, failure).",
		}, []string{"type", "result"}),
		Codes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_codes_dispatched_total",
			Help: "Code delivery attempts by colour, notifier kind and result (success, retry, undeliverable).",
		}, []string{"code", "notifier", "result"}),
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
			Help: "Jobs held back because a pipeline's queue was full; they stay due and are retried.",
		}, []string{"pipeline"}),
		pipes: &pipelineCollector{},
	}
	b := Build()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cpra_build_info",
		Help:        "Build information of the running agent; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.ReloadSuccessful, m.ReloadTimestamp, m.Monitors,
		m.Checks, m.CheckDuration, m.ScheduleLag,
		m.Interventions, m.Codes,
		m.QueueEnqueued, m.QueueDequeued, m.QueueDropped, m.QueueWait, m.Deferred,
		m.pipes,
	)
	return m
}

// PipelineStats is a pipeline's instantaneous state, read at scrape time.
type PipelineStats struct {
	Depth, Capacity  int
	Workers, Running int
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
)

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descCapacity
	ch <- descWorkers
	ch <- descRunning
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
	}
}
