package telemetry

import (
	"iter"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MonitorSample is what the per-monitor series show about one monitor: its
// state, and its last check once it has one.
type MonitorSample struct {
	Monitor string
	State   string // the monitor's incident state, a value of cpra_monitors{state}

	Checked    bool    // a check completed since the monitor was added or enabled
	Up         bool    // that check succeeded
	Duration   float64 // its duration, in seconds
	Timestamp  float64 // when its outcome was applied, unix seconds
	CertExpiry float64 // the earliest certificate expiry it saw, unix seconds; 0 without TLS

	CheckType string  // its kind; an http check's phases show as probe_http_duration_seconds on /probe
	Queued    float64 // the agent's time before it reached out (lag, worker, connection slot), seconds
	// Phases is the target's time, by HTTPPhases, in seconds.
	Phases [len(HTTPPhases)]float64
}

// HTTPPhases are the phases of probe_http_duration_seconds, as
// blackbox_exporter names them.
var HTTPPhases = [...]string{"resolve", "connect", "tls", "processing", "transfer"}

// The per-monitor families. /probe shows the same ones for one monitor, so
// dashboards work whether the series come from /metrics or from /probe.
var (
	descMonitorUp = prometheus.NewDesc("cpra_monitor_up",
		"Whether the monitor's last check succeeded (1) or failed (0); absent until its first check.",
		[]string{"monitor"}, nil)
	descMonitorCertExpiry = prometheus.NewDesc("cpra_monitor_tls_earliest_cert_expiry_timestamp_seconds",
		"When the earliest certificate of the TLS chain the monitor's last check saw expires, unix seconds; absent without TLS.",
		[]string{"monitor"}, nil)
	descMonitorDuration = prometheus.NewDesc("cpra_monitor_check_duration_seconds",
		"Duration of the monitor's last check, retries included.",
		[]string{"monitor"}, nil)
	descMonitorQueued = prometheus.NewDesc("cpra_monitor_check_queued_seconds",
		"How long the monitor's last check waited in the agent before it reached out (schedule lag, a worker, a connection slot): the agent's time, not the target's.",
		[]string{"monitor"}, nil)
	descMonitorLastCheck = prometheus.NewDesc("cpra_monitor_last_check_timestamp_seconds",
		"When the monitor's last check completed (whole seconds).",
		[]string{"monitor"}, nil)
	descMonitorState = prometheus.NewDesc("cpra_monitor_state",
		"The monitor's incident state: one series with the value 1, labelled with the current state.",
		[]string{"monitor", "state"}, nil)
	descMonitorSeries = prometheus.NewDesc("cpra_monitor_series",
		"Monitors with per-monitor series: those that opted in, up to metrics.per_monitor_limit.",
		nil, nil)
	descMonitorRefused = prometheus.NewDesc("cpra_monitor_series_refused_total",
		"Monitors that opted in to per-monitor series but got none because metrics.per_monitor_limit was reached; each is counted once per configuration load.",
		nil, nil)
	descMonitorLimit = prometheus.NewDesc("cpra_monitor_series_limit",
		"The most monitors that get per-monitor series (metrics.per_monitor_limit).",
		nil, nil)
)

// MonitorSeries exports cpra_monitor_* series for the monitors that opted
// in, up to a limit, so that a million monitors never become a million
// series by accident.
//
// Sync and Update are called by one goroutine (the agent's owner loop);
// scrapes run concurrently with them.
type MonitorSeries struct {
	limit int

	mu      sync.Mutex // guards writes to series and refused; Collect reads under it
	series  map[string]MonitorSample
	refused uint64
}

// EnableMonitorSeries registers per-monitor series on m's registry. At most
// limit monitors get series; 0 gives none (every opt-in is refused).
func (m *Metrics) EnableMonitorSeries(limit int) *MonitorSeries {
	s := &MonitorSeries{limit: max(0, limit), series: map[string]MonitorSample{}}
	m.Registry.MustRegister(s)
	return s
}

// Sync sets which monitors have series, after a configuration load.
// monitors are the opted-in monitors in the file's order. Monitors that
// had series and are still opted in keep them (a reload never moves series
// from one monitor to another); the rest of the limit goes to the others in
// order. Series of monitors not in monitors disappear. Sync returns how
// many opt-ins it refused, which cpra_monitor_series_refused_total counts.
func (s *MonitorSeries) Sync(monitors iter.Seq[MonitorSample]) (refused int) {
	next := make(map[string]MonitorSample, len(s.series))
	var waiting []MonitorSample // new opt-ins, in order; only as many as could fit
	for x := range monitors {
		switch _, had := s.series[x.Monitor]; {
		case had:
			next[x.Monitor] = x
		case len(waiting) < s.limit:
			waiting = append(waiting, x)
		default:
			refused++
		}
	}
	for _, x := range waiting {
		if len(next) < s.limit {
			next[x.Monitor] = x
		} else {
			refused++
		}
	}
	s.mu.Lock()
	s.series = next
	s.refused += uint64(refused)
	s.mu.Unlock()
	return refused
}

// Update records a monitor's state and last check. A monitor without
// series (refused, or not opted in) is ignored.
func (s *MonitorSeries) Update(x MonitorSample) {
	// Only the caller's goroutine writes the map, so it may read it
	// without the lock.
	if _, ok := s.series[x.Monitor]; !ok {
		return
	}
	s.mu.Lock()
	s.series[x.Monitor] = x
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *MonitorSeries) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMonitorUp, descMonitorDuration, descMonitorQueued, descMonitorLastCheck, descMonitorCertExpiry, descMonitorState,
		descMonitorSeries, descMonitorRefused, descMonitorLimit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *MonitorSeries) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descMonitorSeries, prometheus.GaugeValue, float64(len(s.series)))
	ch <- prometheus.MustNewConstMetric(descMonitorRefused, prometheus.CounterValue, float64(s.refused))
	ch <- prometheus.MustNewConstMetric(descMonitorLimit, prometheus.GaugeValue, float64(s.limit))
	for _, x := range s.series {
		collectMonitor(ch, x)
	}
}

// collectMonitor sends one monitor's series.
func collectMonitor(ch chan<- prometheus.Metric, x MonitorSample) {
	ch <- prometheus.MustNewConstMetric(descMonitorState, prometheus.GaugeValue, 1, x.Monitor, x.State)
	if !x.Checked {
		return
	}
	ch <- prometheus.MustNewConstMetric(descMonitorUp, prometheus.GaugeValue, boolValue(x.Up), x.Monitor)
	ch <- prometheus.MustNewConstMetric(descMonitorDuration, prometheus.GaugeValue, x.Duration, x.Monitor)
	ch <- prometheus.MustNewConstMetric(descMonitorQueued, prometheus.GaugeValue, x.Queued, x.Monitor)
	ch <- prometheus.MustNewConstMetric(descMonitorLastCheck, prometheus.GaugeValue, x.Timestamp, x.Monitor)
	if x.CertExpiry != 0 {
		ch <- prometheus.MustNewConstMetric(descMonitorCertExpiry, prometheus.GaugeValue, x.CertExpiry, x.Monitor)
	}
}

var (
	descProbeSuccess = prometheus.NewDesc("probe_success",
		"Whether the monitor's last check succeeded (1) or failed (0), as blackbox_exporter reports a probe; absent until its first check.",
		nil, nil)
	descProbeDuration = prometheus.NewDesc("probe_duration_seconds",
		"Duration of the monitor's last check, retries included.",
		nil, nil)
	descProbeHTTPDuration = prometheus.NewDesc("probe_http_duration_seconds",
		"Duration of the monitor's last http check by phase, as blackbox_exporter reports it: the target's time, from the moment the agent reached out.",
		[]string{"phase"}, nil)
	descProbeCertExpiry = prometheus.NewDesc("probe_ssl_earliest_cert_expiry",
		"Returns last SSL chain expiry in unixtime, as blackbox_exporter does: the earliest certificate expiry of the monitor's last check.",
		nil, nil)
)

// ProbeCollector shows one monitor's latest result the way
// blackbox_exporter shows a probe: probe_success and probe_duration_seconds
// without labels (the scrape's relabelling names the target), plus the
// monitor's cpra_monitor_* series as /metrics shows them for monitors that
// opted in. It serves GET /probe?monitor=NAME from a registry of its own.
func ProbeCollector(x MonitorSample) prometheus.Collector { return probeCollector(x) }

type probeCollector MonitorSample

func (p probeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProbeSuccess, descProbeDuration, descProbeHTTPDuration, descProbeCertExpiry,
		descMonitorUp, descMonitorDuration, descMonitorQueued, descMonitorLastCheck, descMonitorCertExpiry, descMonitorState} {
		ch <- d
	}
}

func (p probeCollector) Collect(ch chan<- prometheus.Metric) {
	x := MonitorSample(p)
	if x.Checked {
		ch <- prometheus.MustNewConstMetric(descProbeSuccess, prometheus.GaugeValue, boolValue(x.Up))
		ch <- prometheus.MustNewConstMetric(descProbeDuration, prometheus.GaugeValue, x.Duration)
		if x.CheckType == "http" {
			for i, phase := range HTTPPhases {
				ch <- prometheus.MustNewConstMetric(descProbeHTTPDuration, prometheus.GaugeValue, x.Phases[i], phase)
			}
		}
		if x.CertExpiry != 0 {
			ch <- prometheus.MustNewConstMetric(descProbeCertExpiry, prometheus.GaugeValue, x.CertExpiry)
		}
	}
	collectMonitor(ch, x)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
