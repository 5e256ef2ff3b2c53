package owner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
)

func httpMonitor(name string) string {
	return fmt.Sprintf("monitors:\n  - name: %s\n    pulse_check: {type: http, interval: 1m, max_failures: 1000, config: {url: \"http://127.0.0.1:1/\"}}\n", name)
}

// Renaming (or removing) a monitor with an open incident closes it at the
// reload: otherwise the entry would stay until shutdown, its root unwritten.
func TestRenamedMonitorClosesItsIncident(t *testing.T) {
	tracing, exp := tracer(t)
	o := newTestOwner(t, tracing)
	now := time.Now()
	for i := range 5 {
		name := fmt.Sprintf("api%d", i)
		applyAt(t, o, httpMonitor(name), now)
		job := takeDue(t, o, now.Add(2*time.Minute))
		o.applyCheck(outcome(job, false, now), now)
		if _, open := o.codePath.Entry(domain.Subject{Name: name}); !open || o.codePath.Subjects() != 1 {
			t.Fatalf("after %s failed: %d subjects in the code path, want only its own", name, o.codePath.Subjects())
		}
		if i > 0 {
			before := fmt.Sprintf("api%d", i-1)
			if r := roots(exp, before); len(r) != 1 || r[0].EndTime.After(now) {
				t.Fatalf("renaming %s to %s wrote %d roots for it, want one ending at the reload", before, name, len(r))
			}
		}
		now = now.Add(3 * time.Minute)
	}
}

// A failing outcome that the world ignores (the monitor was disabled while
// its check ran) opens no incident.
func TestIgnoredOutcomeOpensNoIncident(t *testing.T) {
	tracing, _ := tracer(t)
	o := newTestOwner(t, tracing)
	now := time.Now()
	on := "monitors:\n  - name: api\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n"
	applyAt(t, o, on, now)
	job := takeDue(t, o, now.Add(2*time.Hour))
	applyAt(t, o, "monitors:\n  - name: api\n    enabled: false\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n", now)
	o.applyCheck(outcome(job, false, now), now)
	if v, _ := o.world.Lookup("api"); o.codePath.Subjects() != 0 {
		t.Errorf("monitor in state %v, yet an incident opened for it", v.State)
	}
}

// A monitor removed with an open incident and re-added later under the
// same name starts afresh rather than inheriting the stale incident.
func TestReaddedMonitorStartsANewIncident(t *testing.T) {
	tracing, exp := tracer(t)
	o := newTestOwner(t, tracing)
	t0 := time.Now()
	applyAt(t, o, httpMonitor("api"), t0)
	job := takeDue(t, o, t0.Add(2*time.Minute))
	o.applyCheck(outcome(job, false, t0), t0)

	removedAt := t0.Add(time.Minute)
	applyAt(t, o, httpMonitor("other"), removedAt)
	readdedAt := removedAt.Add(time.Minute)
	applyAt(t, o, httpMonitor("api"), readdedAt)
	job = takeDue(t, o, readdedAt.Add(2*time.Minute))
	failedAt := readdedAt.Add(time.Second)
	o.applyCheck(outcome(job, false, failedAt), failedAt)

	r := roots(exp, "api")
	if len(r) != 1 || !r[0].EndTime.Equal(removedAt) {
		t.Fatalf("roots %+v, want one: the removed monitor's, ending at its removal", r)
	}
	if open, ok := o.codePath.Entry(domain.Subject{Name: "api"}); !ok || open.Trace.TraceID() == r[0].SpanContext.TraceID() || !open.Start.Equal(failedAt) {
		t.Errorf("the re-added monitor's failure did not start an incident of its own: %+v", open)
	}
}

// TestLookupWithAnEndingContext: once the owner has taken a request, ask
// waits for its answer, so Lookup never returns what the owner is still
// writing, even when the caller's context ends. Only the race detector can
// see the bug this guards against; make test runs with -race.
func TestLookupWithAnEndingContext(t *testing.T) {
	o, ctx := startOwner(t, config.DefaultAgent())
	ms := parse(t, "monitors:\n  - name: api\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n")
	if _, _, err := o.Apply(ctx, ms, world.Kept{}); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2000 {
		if v, ok, err := o.Lookup(ended, "api"); err == nil && (!ok || v.Name != "api") {
			t.Fatalf("Lookup answered without error but without the monitor: %+v %v", v, ok)
		}
	}
}
