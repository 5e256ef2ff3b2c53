package telemetry

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// opted returns the opted-in monitors of a configuration load, in order,
// never checked.
func opted(names ...string) func(func(MonitorSample) bool) {
	return slices.Values(samples(names...))
}

func samples(names ...string) []MonitorSample {
	out := make([]MonitorSample, len(names))
	for i, n := range names {
		out[i] = MonitorSample{Monitor: n, State: "unknown"}
	}
	return out
}

// expectSeries compares the whole exposition of s with want (the families
// after the HELP and TYPE lines, which the test writes once).
func expectSeries(t *testing.T, s *MonitorSeries, want string) {
	t.Helper()
	const head = `# HELP cpra_monitor_check_duration_seconds Duration of the monitor's last check, retries included.
# TYPE cpra_monitor_check_duration_seconds gauge
# HELP cpra_monitor_check_queued_seconds How long the monitor's last check waited in the agent before it reached out (schedule lag, a worker, a connection slot): the agent's time, not the target's.
# TYPE cpra_monitor_check_queued_seconds gauge
# HELP cpra_monitor_last_check_timestamp_seconds When the monitor's last check completed (whole seconds).
# TYPE cpra_monitor_last_check_timestamp_seconds gauge
# HELP cpra_monitor_series Monitors with per-monitor series: those that opted in, up to metrics.per_monitor_limit.
# TYPE cpra_monitor_series gauge
# HELP cpra_monitor_series_limit The most monitors that get per-monitor series (metrics.per_monitor_limit).
# TYPE cpra_monitor_series_limit gauge
# HELP cpra_monitor_series_refused_total Monitors that opted in to per-monitor series but got none because metrics.per_monitor_limit was reached; each is counted once per configuration load.
# TYPE cpra_monitor_series_refused_total counter
# HELP cpra_monitor_state The monitor's incident state: one series with the value 1, labelled with the current state.
# TYPE cpra_monitor_state gauge
# HELP cpra_monitor_up Whether the monitor's last check succeeded (1) or failed (0); absent until its first check.
# TYPE cpra_monitor_up gauge
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(head+want)); err != nil {
		t.Error(err)
	}
}

func TestMonitorSeriesLimit(t *testing.T) {
	s := NewMetrics().EnableMonitorSeries(2)

	// Three opt-ins, room for two: the first two in the file get series.
	if refused := s.Sync(opted("a", "b", "c")); refused != 1 {
		t.Errorf("refused %d, want 1", refused)
	}
	s.Update(MonitorSample{Monitor: "a", State: "healthy", Checked: true, Up: true, Duration: 0.25, Timestamp: 1.8e9})
	s.Update(MonitorSample{Monitor: "c", State: "down", Checked: true}) // no series: ignored
	expectSeries(t, s, `cpra_monitor_check_duration_seconds{monitor="a"} 0.25
cpra_monitor_check_queued_seconds{monitor="a"} 0
cpra_monitor_last_check_timestamp_seconds{monitor="a"} 1.8e+09
cpra_monitor_series 2
cpra_monitor_series_limit 2
cpra_monitor_series_refused_total 1
cpra_monitor_state{monitor="a",state="healthy"} 1
cpra_monitor_state{monitor="b",state="unknown"} 1
cpra_monitor_up{monitor="a"} 1
`)

	// A reload that puts c first: a and b keep their series (with the
	// state the load reports), c is refused again, and counted again.
	if refused := s.Sync(slices.Values([]MonitorSample{
		{Monitor: "c", State: "down"},
		{Monitor: "a", State: "degraded", Checked: true, Up: false, Duration: 5, Timestamp: 1.8e9 + 30},
		{Monitor: "b", State: "unknown"},
	})); refused != 1 {
		t.Errorf("refused %d on the reload, want 1", refused)
	}
	expectSeries(t, s, `cpra_monitor_check_duration_seconds{monitor="a"} 5
cpra_monitor_check_queued_seconds{monitor="a"} 0
cpra_monitor_last_check_timestamp_seconds{monitor="a"} 1.80000003e+09
cpra_monitor_series 2
cpra_monitor_series_limit 2
cpra_monitor_series_refused_total 2
cpra_monitor_state{monitor="a",state="degraded"} 1
cpra_monitor_state{monitor="b",state="unknown"} 1
cpra_monitor_up{monitor="a"} 0
`)

	// a leaves the file: its series disappear and c takes its place.
	if refused := s.Sync(opted("c", "b")); refused != 0 {
		t.Errorf("refused %d, want 0", refused)
	}
	s.Update(MonitorSample{Monitor: "a", State: "healthy", Checked: true, Up: true}) // gone: ignored
	expectSeries(t, s, `cpra_monitor_series 2
cpra_monitor_series_limit 2
cpra_monitor_series_refused_total 2
cpra_monitor_state{monitor="b",state="unknown"} 1
cpra_monitor_state{monitor="c",state="unknown"} 1
`)

	// Nobody opts in any more: nothing but the totals.
	s.Sync(opted())
	expectSeries(t, s, `cpra_monitor_series 0
cpra_monitor_series_limit 2
cpra_monitor_series_refused_total 2
`)
}

func TestMonitorSeriesOff(t *testing.T) {
	s := NewMetrics().EnableMonitorSeries(0)
	if refused := s.Sync(opted("a", "b")); refused != 2 {
		t.Errorf("refused %d with the limit 0, want 2", refused)
	}
	s.Update(MonitorSample{Monitor: "a", State: "healthy", Checked: true, Up: true})
	expectSeries(t, s, `cpra_monitor_series 0
cpra_monitor_series_limit 0
cpra_monitor_series_refused_total 2
`)
}

// TestMonitorSeriesManyOptIns checks that refusing a million opt-ins keeps
// only the limit's worth of them.
func TestMonitorSeriesManyOptIns(t *testing.T) {
	if testing.Short() {
		t.Skip("a million opt-ins")
	}
	s := NewMetrics().EnableMonitorSeries(10)
	all := func(yield func(MonitorSample) bool) {
		for i := range 1_000_000 {
			if !yield(MonitorSample{Monitor: strconv.Itoa(i), State: "unknown"}) {
				return
			}
		}
	}
	if refused := s.Sync(all); refused != 1_000_000-10 {
		t.Errorf("refused %d, want %d", refused, 1_000_000-10)
	}
	if n := testutil.CollectAndCount(s, "cpra_monitor_state"); n != 10 {
		t.Errorf("%d state series, want 10", n)
	}
}

func TestProbeCollector(t *testing.T) {
	const head = `# HELP cpra_monitor_state The monitor's incident state: one series with the value 1, labelled with the current state.
# TYPE cpra_monitor_state gauge
`
	tests := []struct {
		name string
		x    MonitorSample
		want string
	}{
		{"checked", MonitorSample{Monitor: "api", State: "degraded", Checked: true, Duration: 0.5, Timestamp: 1.8e9,
			CheckType: "http", Queued: 0.25, Phases: [5]float64{0.001, 0.002, 0, 0.4, 0.097}}, `# HELP cpra_monitor_check_duration_seconds Duration of the monitor's last check, retries included.
# TYPE cpra_monitor_check_duration_seconds gauge
cpra_monitor_check_duration_seconds{monitor="api"} 0.5
# HELP cpra_monitor_check_queued_seconds How long the monitor's last check waited in the agent before it reached out (schedule lag, a worker, a connection slot): the agent's time, not the target's.
# TYPE cpra_monitor_check_queued_seconds gauge
cpra_monitor_check_queued_seconds{monitor="api"} 0.25
# HELP cpra_monitor_last_check_timestamp_seconds When the monitor's last check completed (whole seconds).
# TYPE cpra_monitor_last_check_timestamp_seconds gauge
cpra_monitor_last_check_timestamp_seconds{monitor="api"} 1.8e+09
` + head + `cpra_monitor_state{monitor="api",state="degraded"} 1
# HELP cpra_monitor_up Whether the monitor's last check succeeded (1) or failed (0); absent until its first check.
# TYPE cpra_monitor_up gauge
cpra_monitor_up{monitor="api"} 0
# HELP probe_duration_seconds Duration of the monitor's last check, retries included.
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.5
# HELP probe_http_duration_seconds Duration of the monitor's last http check by phase, as blackbox_exporter reports it: the target's time, from the moment the agent reached out.
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.002
probe_http_duration_seconds{phase="processing"} 0.4
probe_http_duration_seconds{phase="resolve"} 0.001
probe_http_duration_seconds{phase="tls"} 0
probe_http_duration_seconds{phase="transfer"} 0.097
# HELP probe_success Whether the monitor's last check succeeded (1) or failed (0), as blackbox_exporter reports a probe; absent until its first check.
# TYPE probe_success gauge
probe_success 0
`},
		{"not checked yet", MonitorSample{Monitor: "api", State: "unknown"}, head + `cpra_monitor_state{monitor="api",state="unknown"} 1
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(ProbeCollector(tt.x), strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMonitorFamiliesLint runs promlint over the per-monitor and probe
// families.
func TestMonitorFamiliesLint(t *testing.T) {
	s := NewMetrics().EnableMonitorSeries(1)
	s.Sync(opted("a"))
	s.Update(MonitorSample{Monitor: "a", State: "healthy", Checked: true, Up: true, Duration: 1, Timestamp: 1})
	for _, c := range []prometheus.Collector{s, ProbeCollector(MonitorSample{Monitor: "a", State: "healthy", Checked: true})} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
