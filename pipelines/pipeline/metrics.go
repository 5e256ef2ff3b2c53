package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// series are a pipeline's own series. Each pipeline registers the same
// families with its name as a constant `pipeline` label
// (prometheus.WrapRegistererWith), so the pulse, intervention and code
// pipelines share the families without sharing a struct.
type series struct {
	enqueued, dequeued, deferred prometheus.Counter
	wait                         prometheus.Observer
	dropped                      *prometheus.CounterVec // {reason}

	decisions                                 *prometheus.CounterVec // {direction, reason}
	recommended, arrival, service, utilised   prometheus.Gauge
	predictedWait, slo, littleL, littleLambda prometheus.Gauge
}

// registerMetrics registers the pipeline's families on reg under its
// name; stats feeds the gauges read at scrape time. A pipeline of the
// same name registered before on reg shares its series.
func registerMetrics(reg prometheus.Registerer, name string, stats func() Stats, fixed fixedGauges) (*series, error) {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": name}, reg)
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: help})
	}
	gauge := func(n, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: help})
	}
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cpra_queue_wait_seconds",
		Help:    "Time jobs spend in a pipeline's queue before a worker starts them.",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10},
	})
	m := &series{
		enqueued: counter("cpra_queue_enqueued_total", "Jobs accepted by a pipeline's queue."),
		dequeued: counter("cpra_queue_dequeued_total", "Jobs taken from a pipeline's queue by its workers."),
		deferred: counter("cpra_backpressure_deferred_total",
			"Jobs a pipeline refused at its high water mark (counted once per job); they wait and are offered again, never dropped."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_queue_dropped_total", Help: "Jobs a pipeline gave up on, by reason.",
		}, []string{"reason"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_sizing_decisions_total",
			Help: "Sizing decisions by direction (up, down, hold) and reason: model (the queueing model decided), cpu_saturated (growth refused: goroutines already wait for a CPU), no_gain (growth refused: the last growth raised service time, not throughput), max (clamped at workers.max), fd_limit (clamped by the open-files limit).",
		}, []string{"direction", "reason"}),
		recommended: gauge("cpra_sizing_recommended_workers",
			"Workers the queueing model asks for: the smallest pool meeting the wait SLO, plus headroom, clamped to the bounds."),
		arrival:  gauge("cpra_sizing_arrival_rate", "Estimated arrival rate of jobs (per second), exponentially weighted."),
		service:  gauge("cpra_sizing_service_time_seconds", "Estimated mean service time of a job, exponentially weighted."),
		utilised: gauge("cpra_sizing_utilization", "Predicted utilisation of the pool at its current size: arrival rate times service time over workers."),
		predictedWait: gauge("cpra_sizing_predicted_wait_seconds",
			"Predicted queue wait at the configured quantile for the current pool size (Erlang C with the Allen-Cunneen correction)."),
		slo: gauge("cpra_sizing_slo_seconds", "The queue-wait target the pool is sized for (sizing.slo), at the quantile of sizing.quantile."),
		littleL: gauge("cpra_sizing_littles_law_l",
			"Measured time-average number of jobs in a pipeline (queued and running) over the last sizing interval: L in Little's law."),
		littleLambda: gauge("cpra_sizing_littles_law_lambda_w",
			"Measured arrival rate times mean time in the pipeline over the last sizing interval: lambda*W in Little's law; equals L when the model holds."),
	}
	high := gauge("cpra_backpressure_high_water_mark", "Queue depth (jobs) at which a pipeline starts refusing new work.")
	low := gauge("cpra_backpressure_low_water_mark", "Queue depth (jobs) a pipeline must drain to before it accepts work again.")
	minWorkers := gauge("cpra_pool_min_workers", "Lower bound of a pipeline's worker pool (workers.min).")
	maxWorkers := gauge("cpra_pool_max_workers", "Upper bound of a pipeline's worker pool (workers.max).")
	high.Set(float64(fixed.high))
	low.Set(float64(fixed.low))
	minWorkers.Set(float64(fixed.minWorkers))
	maxWorkers.Set(float64(fixed.maxWorkers))

	var errs []error
	register := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return are.ExistingCollector
			}
			errs = append(errs, err)
		}
		return c
	}
	m.enqueued = register(m.enqueued).(prometheus.Counter)
	m.dequeued = register(m.dequeued).(prometheus.Counter)
	m.deferred = register(m.deferred).(prometheus.Counter)
	m.wait = register(wait).(prometheus.Histogram)
	m.dropped = register(m.dropped).(*prometheus.CounterVec)
	m.decisions = register(m.decisions).(*prometheus.CounterVec)
	for _, g := range []*prometheus.Gauge{&m.recommended, &m.arrival, &m.service, &m.utilised,
		&m.predictedWait, &m.slo, &m.littleL, &m.littleLambda} {
		*g = register(*g).(prometheus.Gauge)
	}
	for _, g := range []prometheus.Gauge{high, low, minWorkers, maxWorkers} {
		register(g)
	}
	register(statsCollector(stats))
	// Every pipeline shows zeros from the start.
	for _, reason := range []string{"shutdown", "pool_closed"} {
		m.dropped.WithLabelValues(reason)
	}
	for _, d := range []string{"up", "down", "hold"} {
		m.decisions.WithLabelValues(d, "model")
	}
	return m, errors.Join(errs...)
}

// fixedGauges are the bounds a pipeline is built with.
type fixedGauges struct{ high, low, minWorkers, maxWorkers int }

// Stats is a pipeline's instantaneous state, read at scrape time.
type Stats struct {
	Depth, Capacity  int
	Workers, Running int
	Backpressure     bool
}

// statsCollector reports queue depth and pool size as gauges computed at
// scrape time, so nothing on the hot path updates them.
type statsCollector func() Stats

var (
	descDepth    = prometheus.NewDesc("cpra_queue_depth", "Jobs waiting in a pipeline's queue.", nil, nil)
	descCapacity = prometheus.NewDesc("cpra_queue_capacity", "Capacity of a pipeline's queue.", nil, nil)
	descWorkers  = prometheus.NewDesc("cpra_pool_workers", "Current capacity of a pipeline's worker pool.", nil, nil)
	descRunning  = prometheus.NewDesc("cpra_pool_running", "Workers of a pipeline busy right now.", nil, nil)
	descActive   = prometheus.NewDesc("cpra_backpressure_active",
		"Whether a pipeline is refusing new work (1) because its queue reached the high water mark and has not yet drained to the low one.",
		nil, nil)
)

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descCapacity
	ch <- descWorkers
	ch <- descRunning
	ch <- descActive
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c()
	active := 0.0
	if st.Backpressure {
		active = 1
	}
	ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(st.Depth))
	ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(st.Capacity))
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(st.Workers))
	ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(st.Running))
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, active)
}
