package world

import (
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// When the agent is behind (routine checks refused), the checks that
// confirm or clear an incident still go: they are offered first, from a
// wheel of their own.
func TestUrgentChecksGoFirst(t *testing.T) {
	w := newWorld(t, monitor("ok"), monitor("bad"))
	var fx Effects
	now := t0.Add(10 * time.Second)
	for _, j := range runDue(w, now) {
		r := pulse.Result{OK: true}
		if w.nameOfEntity(j.Entity) == "bad" {
			r = pulse.Result{Reason: "status 503"}
		}
		w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: r}, now, &fx)
	}
	if v, _ := w.Lookup("bad"); v.State != incident.Degraded {
		t.Fatalf("bad is %v, want degraded", v.State)
	}
	// Both are due again; the pipeline refuses routine work.
	var offered []string
	stopped := w.Offer(now.Add(10*time.Second), func(j CheckJob) OfferResult {
		offered = append(offered, w.nameOfEntity(j.Entity))
		if !j.Urgent {
			return Refused
		}
		return Accepted
	})
	if !stopped || len(offered) != 2 || offered[0] != "bad" || offered[1] != "ok" {
		t.Errorf("offered %v (stopped %v); want the degraded monitor first and accepted, then the healthy one refused", offered, stopped)
	}
}

// An inconclusive check says nothing about the target: the monitor keeps
// its state, is checked again within a second, ahead of routine checks,
// and after a conclusive check returns to its phase.
func TestInconclusiveIsRetriedSoon(t *testing.T) {
	w := newWorld(t, monitor("a"))
	var fx Effects
	due := t0.Add(10 * time.Second)
	jobs := runDue(w, due)
	if len(jobs) != 1 || jobs[0].Urgent {
		t.Fatalf("first check: %+v; want one routine job", jobs)
	}
	phase := jobs[0].Due
	w.ApplyCheck(CheckOutcome{Entity: jobs[0].Entity, Due: jobs[0].Due,
		Result: pulse.Result{Inconclusive: pulse.InconclusiveLocalPool, Reason: "no slot"}}, due, &fx)
	if v, _ := w.Lookup("a"); v.State != incident.Unknown || v.Fails != 0 {
		t.Errorf("after an inconclusive check: %v with %d failures; want it untouched", v.State, v.Fails)
	}
	if jobs := runDue(w, due.Add(999*time.Millisecond)); len(jobs) != 0 {
		t.Errorf("retried before a second passed")
	}
	jobs = runDue(w, due.Add(time.Second))
	if len(jobs) != 1 || !jobs[0].Urgent {
		t.Fatalf("retry: %+v; want one urgent job a second later", jobs)
	}
	w.ApplyCheck(CheckOutcome{Entity: jobs[0].Entity, Due: jobs[0].Due, Result: pulse.Result{OK: true}}, due.Add(1100*time.Millisecond), &fx)
	e, _ := w.lookup("a")
	_, rt := w.monitors.Get(e)
	if rt.Retry || (rt.Due-phase)%int64(10*time.Second) != 0 || rt.Due <= due.UnixNano() {
		t.Errorf("after the retry passed: due %v, retry %v; want the next check back on the phase %v", time.Unix(0, rt.Due), rt.Retry, time.Unix(0, phase))
	}
}
