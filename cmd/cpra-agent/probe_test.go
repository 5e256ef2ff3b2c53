package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ---------------------------------------------------------------------------
// Per-monitor series under a cardinality limit, and /probe.

// TestMonitorSeriesAndProbe runs the agent with room for one monitor's
// series: of two monitors that opt in, the first in the file gets series
// and the other is refused and counted. /probe answers for every monitor,
// opted in or not. A reload that moves the opt-in (from a monitor's own
// key to its group) moves the series.
func TestMonitorSeriesAndProbe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svcIn, svcOver, svcPlain := newService(t, false), newService(t, false), newService(t, true)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "metrics:\n  per_monitor_limit: 1\n")
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors,
		httpMonitor("in", svcIn.healthURL(), 2, "    metrics: true\n"),
		httpMonitor("over", svcOver.healthURL(), 2, "    metrics: true\n"),
		httpMonitor("plain", svcPlain.healthURL(), 2), // failing, and not opted in
	)
	a := startAgent(t, "--config="+agentConfig, "--yaml="+monitors)

	a.waitMetrics(t, "series for the first opted-in monitor only", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitor_up", "==", 1, "monitor", "in")
		miss = m.expect(miss, "cpra_monitor_state", "==", 1, "monitor", "in", "state", "healthy")
		miss = m.expect(miss, "cpra_monitor_check_duration_seconds", ">=", 0, "monitor", "in")
		miss = m.expect(miss, "cpra_monitor_last_check_timestamp_seconds", ">", 0, "monitor", "in")
		miss = m.expect(miss, "cpra_monitor_series", "==", 1)
		miss = m.expect(miss, "cpra_monitor_series_limit", "==", 1)
		miss = m.expect(miss, "cpra_monitor_series_refused_total", "==", 1)
		miss = m.absent(miss, "over", "plain")
		return miss
	})

	// /probe answers for any monitor of the file: "plain" has no series
	// on /metrics, and is failing.
	waitFor(t, "/probe to show plain's failed check", func() (bool, string) {
		status, m, body := a.probe(t, "plain")
		if status != http.StatusOK {
			return false, fmt.Sprintf("%d %q", status, body)
		}
		var miss []string
		miss = m.expect(miss, "probe_success", "==", 0)
		miss = m.expect(miss, "probe_duration_seconds", ">=", 0)
		miss = m.expect(miss, "cpra_monitor_up", "==", 0, "monitor", "plain")
		miss = m.expect(miss, "cpra_monitor_state", "==", 1, "monitor", "plain", "state", "down")
		miss = m.expect(miss, "cpra_monitor_last_check_timestamp_seconds", ">", 0, "monitor", "plain")
		return len(miss) == 0, strings.Join(miss, "; ")
	})
	waitFor(t, "/probe to show in's successful check", func() (bool, string) {
		status, m, body := a.probe(t, "in")
		if status != http.StatusOK {
			return false, fmt.Sprintf("%d %q", status, body)
		}
		var miss []string
		miss = m.expect(miss, "probe_success", "==", 1)
		miss = m.expect(miss, "cpra_monitor_state", "==", 1, "monitor", "in", "state", "healthy")
		return len(miss) == 0, strings.Join(miss, "; ")
	})
	if status, body := a.get("/probe?monitor=nope"); status != http.StatusNotFound || !strings.Contains(body, `unknown monitor "nope"`) {
		t.Errorf("/probe of an unknown monitor: %d %q, want 404 naming it", status, body)
	}
	if status, body := a.get("/probe"); status != http.StatusBadRequest || !strings.Contains(body, "missing parameter: monitor") {
		t.Errorf("/probe without a monitor: %d %q, want 400 naming the parameter", status, body)
	}

	// Reload: "in" opts out, and the file's metrics section opts its
	// group in, so "over" (first) gets the one series and "plain" is
	// refused; "in" loses its series.
	writeMonitors(t, monitors,
		httpMonitor("in", svcIn.healthURL(), 2, "    metrics: false\n"),
		httpMonitor("over", svcOver.healthURL(), 2),
		httpMonitor("plain", svcPlain.healthURL(), 2),
		"metrics:\n  groups: [e2e]\n",
	)
	if status, body := a.do(t, http.MethodPost, "/-/reload"); status != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %q", status, body)
	}
	a.waitMetrics(t, "the series to follow the opt-in", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitor_up", "==", 1, "monitor", "over")
		miss = m.expect(miss, "cpra_monitor_state", "==", 1, "monitor", "over", "state", "healthy")
		miss = m.expect(miss, "cpra_monitor_series", "==", 1)
		miss = m.expect(miss, "cpra_monitor_series_refused_total", "==", 2) // plain, once for this load
		miss = m.absent(miss, "in", "plain")
		return miss
	})
	// /probe does not depend on the opt-in.
	if status, m, body := a.probe(t, "in"); status != http.StatusOK {
		t.Errorf("/probe?monitor=in after it opted out: %d %q", status, body)
	} else if miss := m.expect(nil, "probe_success", "==", 1); len(miss) > 0 {
		t.Errorf("/probe?monitor=in after it opted out: %v", miss)
	}
}

// absent appends to miss every monitor that has a per-monitor series.
func (m metrics) absent(miss []string, monitors ...string) []string {
	for _, name := range monitors {
		for _, family := range []string{"cpra_monitor_up", "cpra_monitor_state", "cpra_monitor_check_duration_seconds", "cpra_monitor_last_check_timestamp_seconds"} {
			if _, found := m.value(family, "monitor", name); found {
				miss = append(miss, fmt.Sprintf("%s{monitor=%q} present, want none", family, name))
			}
		}
	}
	return miss
}

// probe requests /probe?monitor=name and parses a 200 answer.
func (a *agentProc) probe(t *testing.T, name string) (int, metrics, string) {
	t.Helper()
	status, body := a.get("/probe?monitor=" + name)
	if status != http.StatusOK {
		return status, nil, body
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/probe?monitor=%s: %v\n%s", name, err, body)
	}
	return status, m, body
}
