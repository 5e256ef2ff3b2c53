package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

func incidentAgent(t *testing.T, text *atomic.Value) (*Agent, *tracetest.InMemoryExporter, context.Context) {
	exp := tracetest.NewInMemoryExporter()
	tracing, err := telemetry.NewTracing(context.Background(), func(string) string { return "" },
		telemetry.TracingOptions{Exporter: exp, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, ctx := startTestAgent(t, config.DefaultAgent(), func() ([]byte, error) { return []byte(text.Load().(string)), nil }, tracing, io.Discard)
	return a, exp, ctx
}

func openIncidents(t *testing.T, a *Agent, ctx context.Context) (names []string) {
	if err := a.onOwner(ctx, func() {
		for m := range a.traces.open {
			names = append(names, m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// Renaming (or removing) a monitor with an open incident closes it at the
// reload: otherwise the entry would stay until shutdown, its root unwritten.
func TestRenamedMonitorClosesItsIncident(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer svc.Close()
	mon := func(name string) string {
		return fmt.Sprintf("monitors:\n  - name: %s\n    pulse_check: {type: http, interval: 100ms, timeout: 100ms, max_failures: 1000, config: {url: %q}}\n", name, svc.URL)
	}
	var text atomic.Value
	text.Store(mon("api0"))
	a, exp, ctx := incidentAgent(t, &text)
	for i := range 5 {
		text.Store(mon(fmt.Sprintf("api%d", i)))
		if err := a.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Contains(openIncidents(t, a, ctx), fmt.Sprintf("api%d", i)) {
			if time.Now().After(deadline) {
				t.Fatal("incident did not open")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	open := openIncidents(t, a, ctx)
	if len(open) > 1 || !hasSpan(exp, "incident api0") {
		t.Errorf("one monitor in the world, %d open incidents: %v (root of the first written: %v)", len(open), open, hasSpan(exp, "incident api0"))
	}
}

// A failing outcome that the world ignores (the monitor was disabled while
// its check ran) opens no incident.
func TestIgnoredOutcomeOpensNoIncident(t *testing.T) {
	on := "monitors:\n  - name: api\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n"
	off := "monitors:\n  - name: api\n    enabled: false\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n"
	var text atomic.Value
	text.Store(on)
	a, _, ctx := incidentAgent(t, &text)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var job world.CheckJob
	a.onOwner(ctx, func() {
		a.world.Due(time.Now().Add(2*time.Hour), func(j world.CheckJob) bool { job = j; return true })
	})
	if job.Due == 0 {
		t.Fatal("no check was due: the test would exercise nothing")
	}
	text.Store(off)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a.onOwner(ctx, func() {
		a.applyCheck(world.CheckOutcome{Entity: job.Entity, Due: job.Due, Started: time.Now(), Result: pulse.Result{Reason: "refused"}}, time.Now())
	})
	v, _, _ := a.Lookup(ctx, "api")
	if open := openIncidents(t, a, ctx); len(open) != 0 {
		t.Errorf("monitor in state %v, yet an incident opened for it: %v", v.State, open)
	}
}

// A monitor removed with an open incident and re-added later under the same
// name starts afresh rather than inheriting the stale incident.
func TestReaddedMonitorStartsANewIncident(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer svc.Close()
	mon := fmt.Sprintf("monitors:\n  - name: api\n    pulse_check: {type: http, interval: 100ms, timeout: 100ms, max_failures: 1000, config: {url: %q}}\n", svc.URL)
	other := fmt.Sprintf("monitors:\n  - name: other\n    pulse_check: {type: http, interval: 1h, config: {url: %q}}\n", svc.URL)
	var text atomic.Value
	text.Store(mon)
	a, exp, ctx := incidentAgent(t, &text)
	reload := func() {
		t.Helper()
		if err := a.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	for deadline := time.Now().Add(5 * time.Second); len(openIncidents(t, a, ctx)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the incident did not open")
		}
	}
	text.Store(other)
	reload()
	removedAt := time.Now()
	time.Sleep(300 * time.Millisecond)
	broken.Store(false)
	text.Store(mon)
	readdedAt := time.Now()
	reload()
	deadline := time.Now().Add(5 * time.Second)
	for !hasSpan(exp, "incident api") {
		if time.Now().After(deadline) {
			t.Fatal("no root")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "incident api" && s.StartTime.Before(removedAt) && s.EndTime.After(readdedAt) {
			t.Errorf("root of the removed monitor's incident closed as %v by the re-added monitor's first check: %v .. %v",
				s.Attributes, s.StartTime.Format(time.StampMilli), s.EndTime.Format(time.StampMilli))
		}
	}
}
