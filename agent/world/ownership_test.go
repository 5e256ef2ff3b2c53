package world

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/cluster"
	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// A replica checks only the monitors it owns; the others keep their phase
// and are checked once the replica takes them over, within an interval; a
// monitor it loses stops being checked, leaves cpra_monitors, and its
// outcome in flight is dropped.
func TestOwnership(t *testing.T) {
	var ms []config.Monitor
	for i := range 10 {
		ms = append(ms, monitor(fmt.Sprintf("m%d", i)))
	}
	w := newWorld(t)
	evens := func(name string) bool { return (name[len(name)-1]-'0')%2 == 0 }
	if g, l, _ := w.SetOwnership(evens, 0, t0); g != 0 || l != 0 {
		t.Fatalf("an empty world gained %d and lost %d", g, l)
	}
	var fx Effects
	w.Apply(ms, t0, &fx)
	if w.Owned() != 5 || w.Counts()[incident.Unknown] != 5 {
		t.Fatalf("owned %d, counted %v; want the 5 even monitors", w.Owned(), w.Counts())
	}
	checked := map[string]bool{}
	now := t0.Add(10 * time.Second) // one interval: every monitor came due once
	jobs := runDue(w, now)
	for _, j := range jobs {
		checked[entityName(w, j.Entity)] = true
	}
	if len(checked) != 5 || !checked["m0"] || checked["m1"] {
		t.Fatalf("checked %v, want the even monitors only", checked)
	}
	// m2 fails while m3 is foreign; then the odd ones move here and the
	// even ones away.
	for _, j := range jobs {
		w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: entityName(w, j.Entity) != "m2", Reason: "down"}}, now, &fx)
	}
	if v, _ := w.Lookup("m2"); v.State != incident.Degraded {
		t.Fatalf("m2 is %v, want degraded", v.State)
	}
	inFlight := runDue(w, now.Add(10*time.Second)) // checks the takeover must drop
	gained, lost, open := w.SetOwnership(func(name string) bool { return !evens(name) }, 0, now)
	if gained != 5 || lost != 5 || strings.Join(open, ",") != "m2" {
		t.Fatalf("gained %d, lost %d, lost open %v; want 5, 5 and m2", gained, lost, open)
	}
	for _, j := range inFlight {
		if _, applied := w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{Reason: "down"}}, now, &fx); applied {
			t.Fatal("an outcome of a monitor now foreign was applied")
		}
	}
	if v, _ := w.Lookup("m2"); v.State != incident.Unknown || w.Counts()[incident.Degraded] != 0 || w.Owned() != 5 {
		t.Fatalf("m2 after it moved: %v; counts %v", v.State, w.Counts())
	}
	// The monitors whose outcomes were dropped are still scheduled: they
	// come back when they are ours again.
	if _, _, _ = w.SetOwnership(evens, 0, now); w.Owned() != 5 {
		t.Fatalf("owned %d after moving back", w.Owned())
	}
	checked = map[string]bool{}
	for _, j := range runDue(w, now.Add(30*time.Second)) {
		checked[entityName(w, j.Entity)] = true
	}
	if len(checked) != 5 || !checked["m0"] || !checked["m2"] {
		t.Fatalf("after moving back checked %v, want the even monitors again (their dropped outcomes kept them scheduled)", checked)
	}
	w.SetOwnership(func(name string) bool { return !evens(name) }, 0, now)
	checked = map[string]bool{}
	for _, j := range runDue(w, now.Add(40*time.Second)) {
		checked[entityName(w, j.Entity)] = true
	}
	if len(checked) != 5 || !checked["m1"] || checked["m2"] {
		t.Fatalf("after the takeover checked %v, want the odd monitors, within one interval", checked)
	}
}

func entityName(w *World, e ecs.Entity) string {
	id, _ := w.monitors.Get(e)
	return w.name(id)
}

// BenchmarkSetOwnership_1M is what a membership change costs the owner
// goroutine at a million monitors: every name hashed and scored against
// four members, a quarter of the monitors moving.
func BenchmarkSetOwnership_1M(b *testing.B) {
	w := benchWorld(b, 1_000_000, time.Unix(1_800_000_000, 0))
	four := cluster.NewRing([]string{"a", "b", "c", "d"})
	three := cluster.NewRing([]string{"a", "b", "c"})
	w.SetOwnership(cluster.Owns(four, "a"), 0, time.Now())
	b.ResetTimer()
	for i := range b.N {
		r := three // d leaves, then comes back
		if i%2 == 1 {
			r = four
		}
		began := time.Now()
		gained, lost, _ := w.SetOwnership(cluster.Owns(r, "a"), 0, time.Now())
		b.ReportMetric(time.Since(began).Seconds(), "s/change")
		if gained+lost == 0 {
			b.Fatal("nothing moved")
		}
	}
}

// An intervention of a monitor taken over waits out the hold; one of a
// monitor owned for longer runs at once.
func TestRemedyHoldAfterTakeover(t *testing.T) {
	w := newWorld(t)
	var fx Effects
	w.Apply([]config.Monitor{monitor("old", withRemedy), monitor("new", withRemedy)}, t0, &fx)
	onlyOld := func(name string) bool { return name == "old" }
	w.SetOwnership(onlyOld, time.Minute, t0)
	w.SetOwnership(nil, time.Minute, t0.Add(time.Second)) // "new" taken over at t0+1s
	now := t0.Add(10 * time.Second)
	for range 2 { // max_failures: 2, then the intervention
		fx.Reset()
		for _, j := range runDue(w, now) {
			w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{Reason: "down"}}, now, &fx)
		}
		now = now.Add(10 * time.Second)
	}
	held := map[string]time.Time{}
	for _, j := range fx.Remedies {
		held[j.Request.Monitor] = j.NotBefore
	}
	if len(held) != 2 {
		t.Fatalf("remedies %+v, want one for each monitor", fx.Remedies)
	}
	if !held["old"].IsZero() {
		t.Errorf("old's intervention held until %v; it was owned all along", held["old"])
	}
	if want := t0.Add(time.Second + time.Minute); !held["new"].Equal(want) {
		t.Errorf("new's intervention held until %v, want %v (a minute after the takeover)", held["new"], want)
	}
}
