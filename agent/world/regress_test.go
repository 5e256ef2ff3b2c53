package world

import (
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Alerts naming a monitor whose own checks pass: each alert-driven
// intervention "recovers" at the next check; recovery must not reset the
// window, or max_per_window (3 per 1h) would never bound them.
func TestAlertInterventionsShareTheWindow(t *testing.T) {
	w := newWorld(t, own(monitor("svc", onAlert)))
	now := t0
	started := 0
	for range 10 {
		var fx Effects
		out := w.ApplyAlert(domain.Notification{Monitor: "svc", Code: domain.Red, State: "firing"}, true, "flap", now, &fx)
		if out.Intervened {
			started++
		}
		w.ApplyRemedy(RemedyOutcome{Entity: fx0(w, "svc")}, now, &fx)
		now = now.Add(10 * time.Second)
		for _, j := range runDue(w, now) {
			w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: true}}, now, &fx)
		}
	}
	if started != 3 {
		t.Fatalf("%d alert-driven interventions within %v; want max_per_window's 3 per 1h, no more and no fewer", started, now.Sub(t0))
	}
}

// Disabling and re-enabling a monitor while its check is in flight: the
// late outcome is dropped (its due time is stale), and the monitor must
// still be checked afterwards, not left marked busy for ever.
func TestReenableWhileACheckRuns(t *testing.T) {
	on := own(monitor("svc"))
	off := on
	off.Enabled = false
	off.Source++
	on2 := on
	on2.Source += 2
	w := newWorld(t, on)
	jobs := runDue(w, t0.Add(10*time.Second))
	if len(jobs) != 1 {
		t.Fatal("no job")
	}
	var fx Effects
	w.Apply([]config.Monitor{off}, t0.Add(11*time.Second), &fx)
	w.Apply([]config.Monitor{on2}, t0.Add(12*time.Second), &fx)
	w.ApplyCheck(CheckOutcome{Entity: jobs[0].Entity, Due: jobs[0].Due, Result: pulse.Result{OK: true}}, t0.Add(13*time.Second), &fx)
	n := 0
	for s := 14; s < 200; s++ {
		n += len(runDue(w, t0.Add(time.Duration(s)*time.Second)))
	}
	if n == 0 {
		t.Fatal("monitor never checked again after disable+enable while its check was in flight")
	}
}
