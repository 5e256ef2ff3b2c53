package world

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

var t0 = time.Unix(1_800_000_000, 0)

// nopProber and nopRemedy are values, not behaviour: world tests feed
// outcomes directly, the kinds are tested in their own packages.
type nopProber struct{}

func (nopProber) Probe(context.Context, pulse.Target) pulse.Result { return pulse.Result{OK: true} }

type nopRemedy struct{}

func (nopRemedy) Apply(context.Context, intervention.Request) error { return nil }
func (nopRemedy) Policy() intervention.Policy                       { return intervention.Policy{} }
func (nopRemedy) Destination(intervention.Request) string           { return "nop" }

type nopNotifier struct{ name string }

func (n nopNotifier) Notify(context.Context, domain.Notification) error { return nil }
func (n nopNotifier) Destination() string                               { return n.name }
func (n nopNotifier) Close(context.Context) error                       { return nil }

var (
	theProber = nopProber{}
	logN      = nopNotifier{"log"}
	amN       = nopNotifier{"am"}
)

// The keys the test monitors name, and the instances behind them.
var (
	proberKey = testKey("prober")
	remedyKey = testKey("remedy")
	logKey    = testKey("log")
	amKey     = testKey("am")
)

func testKey(s string) spec.Key { return spec.NewFingerprint().String(s).Key() }

// testInstances resolves the test keys as config.Instances does the
// loader's.
type testInstances struct{}

func (testInstances) Prober(k spec.Key) pulse.Prober {
	if k == proberKey {
		return theProber
	}
	return nil
}

func (testInstances) Remedy(k spec.Key) intervention.Remedy {
	if k == remedyKey {
		return nopRemedy{}
	}
	return nil
}

func (testInstances) Notifier(k spec.Key) code.Notifier {
	switch k {
	case logKey:
		return logN
	case amKey:
		return amN
	}
	return nil
}

func monitor(name string, mod ...func(*config.Monitor)) config.Monitor {
	m := config.Monitor{
		Name: name, Enabled: true,
		Pulse: config.Pulse{Type: "http", Interval: 10 * time.Second, Timeout: time.Second,
			MaxFailures: 2, HealthyThreshold: 1, Address: "http://" + name},
		Instances: config.InstanceKeys{Prober: proberKey},
	}
	m.Codes[domain.Yellow] = config.Route{Configured: true, Dispatch: true, Notifier: logKey}
	m.Codes[domain.Red] = config.Route{Configured: true, Dispatch: true, Notifier: amKey}
	for _, f := range mod {
		f(&m)
	}
	m.Source = uint64(len(fmt.Sprint(m.Enabled, m.Pulse.Interval, m.Pulse.Address, m.Intervention != nil, m.Metrics)))
	m.ProfileKey = spec.NewFingerprint().String(fmt.Sprint(m.Enabled, m.Pulse.Interval, m.Intervention != nil, m.Metrics)).Key()
	return m
}

func withRemedy(m *config.Monitor) {
	m.Intervention = &config.Intervention{Type: "script", MaxPerWindow: 3, Window: time.Hour}
	m.Instances.Remedy = remedyKey
}

func newWorld(t testing.TB, ms ...config.Monitor) *World {
	t.Helper()
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	w.Apply(ms, t0, &fx)
	return w
}

// runDue collects the jobs due at now.
func runDue(w *World, now time.Time) []CheckJob {
	var jobs []CheckJob
	w.Due(now, func(j CheckJob) bool { jobs = append(jobs, j); return true })
	return jobs
}

func TestFirstChecksAreSpreadAndStable(t *testing.T) {
	const n = 1000
	var ms []config.Monitor
	for i := range n {
		ms = append(ms, monitor(fmt.Sprintf("m%d", i)))
	}
	w := newWorld(t, ms...)
	perSecond := map[int64]int{}
	total := 0
	for s := int64(1); s <= 10; s++ {
		jobs := runDue(w, t0.Add(time.Duration(s)*time.Second))
		perSecond[s] = len(jobs)
		total += len(jobs)
	}
	if total != n {
		t.Fatalf("%d of %d monitors came due within one interval", total, n)
	}
	for s, c := range perSecond {
		if c > n/10*2 {
			t.Errorf("second %d has %d first checks: not spread (expected about %d)", s, c, n/10)
		}
	}
	a, b := firstDue("api", 30*time.Second, t0), firstDue("api", 30*time.Second, t0.Add(7*time.Second))
	if (b-a)%int64(30*time.Second) != 0 {
		t.Errorf("phase changed across restarts: %d vs %d", a, b)
	}
}

func TestCheckCycleKeepsPhaseAndSkipsStale(t *testing.T) {
	w := newWorld(t, monitor("a"))
	jobs := runDue(w, t0.Add(10*time.Second))
	if len(jobs) != 1 {
		t.Fatalf("want 1 due job, got %d", len(jobs))
	}
	j := jobs[0]
	// While in flight, nothing more is due even past the next interval.
	if again := runDue(w, t0.Add(25*time.Second)); len(again) != 0 {
		t.Fatalf("in-flight monitor dispatched again: %v", again)
	}
	var fx Effects
	now := t0.Add(25 * time.Second)
	w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: true}}, now, &fx)
	v, _ := w.Lookup("a")
	if v.State != incident.Healthy {
		t.Fatalf("state %v after success", v.State)
	}
	if off := (v.Due.UnixNano() - j.Due) % int64(10*time.Second); off != 0 || !v.Due.After(now) {
		t.Fatalf("next due %v not on phase after %v", v.Due, now)
	}
	// A duplicate outcome is ignored.
	w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: false, Reason: "x"}}, now, &fx)
	if v, _ := w.Lookup("a"); v.State != incident.Healthy {
		t.Fatalf("stale outcome applied: %v", v.State)
	}
}

func TestIncidentThroughWorld(t *testing.T) {
	w := newWorld(t, monitor("svc", withRemedy))
	var fx Effects
	now := t0
	fail := func() {
		now = now.Add(10 * time.Second)
		for _, j := range runDue(w, now) {
			w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{Reason: "status 503"}}, now, &fx)
		}
	}
	fail()
	fail()
	if len(fx.Codes) != 1 || fx.Codes[0].Notification.Code != domain.Yellow {
		t.Fatalf("codes = %+v, want one yellow", fx.Codes)
	}
	if got := fx.Codes[0].Notifiers; len(got) != 1 || got[0] != logN {
		t.Fatalf("yellow targets = %v, want the log notifier", got)
	}
	if len(fx.Remedies) != 1 || fx.Remedies[0].Request.Monitor != "svc" || fx.Remedies[0].Request.Reason != "status 503" {
		t.Fatalf("remedies = %+v", fx.Remedies)
	}
	if c := w.Counts(); c[incident.Intervening] != 1 {
		t.Fatalf("counts = %v", c)
	}
	v, _ := w.Lookup("svc")
	if v.Reason != "status 503" {
		t.Fatalf("reason = %q", v.Reason)
	}
	fx.Reset()
	w.ApplyRemedy(RemedyOutcome{Entity: fx0(w, "svc")}, now, &fx)
	if len(fx.Codes) != 1 || fx.Codes[0].Notification.Code != domain.Cyan {
		t.Fatalf("after remedy: %+v", fx.Codes)
	}
	// Cyan has no entry of its own: it goes to every configured notifier.
	if got := fx.Codes[0].Notifiers; len(got) != 2 {
		t.Fatalf("cyan targets = %v, want both notifiers", got)
	}
	fx.Reset()
	now = now.Add(10 * time.Second)
	for _, j := range runDue(w, now) {
		w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: true}}, now, &fx)
	}
	if len(fx.Codes) != 1 || fx.Codes[0].Notification.Code != domain.Green || fx.Codes[0].Notification.State != "healthy" {
		t.Fatalf("after recovery: %+v", fx.Codes)
	}
	if v, _ := w.Lookup("svc"); v.Reason != "" {
		t.Fatalf("reason kept after recovery: %q", v.Reason)
	}
}

func fx0(w *World, name string) ecs.Entity { e, _ := w.lookup(name); return e }

func TestReload(t *testing.T) {
	w := newWorld(t, monitor("keep"), monitor("change"), monitor("drop"), monitor("disable"))
	var fx Effects
	now := t0.Add(10 * time.Second)
	// Put "drop" and "keep" into an incident first.
	for _, j := range runDue(w, now) {
		w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{Reason: "down"}}, now, &fx)
	}
	fx.Reset()
	keepBefore, _ := w.Lookup("keep")

	st := w.Apply([]config.Monitor{
		monitor("keep"),
		monitor("change", func(m *config.Monitor) { m.Pulse.Address = "http://elsewhere"; m.Pulse.Interval = time.Minute }),
		monitor("disable", func(m *config.Monitor) { m.Enabled = false }),
		monitor("new"),
	}, now, &fx)
	if st != (ApplyStats{Added: 1, Updated: 2, Unchanged: 1, Removed: 1}) {
		t.Fatalf("stats = %+v", st)
	}
	if v, _ := w.Lookup("keep"); v.State != keepBefore.State || v.Fails != keepBefore.Fails {
		t.Fatalf("unchanged monitor lost its state: %+v -> %+v", keepBefore, v)
	}
	if v, _ := w.Lookup("change"); v.Address != "http://elsewhere" || v.State != incident.Degraded {
		t.Fatalf("updated monitor: %+v (state must be kept)", v)
	}
	if _, ok := w.Lookup("drop"); ok {
		t.Fatal("removed monitor still present")
	}
	var grays int
	for _, d := range fx.Codes {
		if d.Notification.Code == domain.Gray {
			grays++
		}
	}
	if grays != 2 { // "drop" was degraded, "disable" becomes maintenance
		t.Fatalf("gray codes = %d, want 2: %+v", grays, fx.Codes)
	}
	if v, _ := w.Lookup("disable"); v.State != incident.Maintenance {
		t.Fatalf("disabled monitor state %v", v.State)
	}
	c := w.Counts()
	sum := 0
	for _, n := range c {
		sum += n
	}
	if sum != 4 || w.Len() != 4 {
		t.Fatalf("counts %v sum %d, Len %d; want 4", c, sum, w.Len())
	}
	// Disabled monitors are never due.
	for _, j := range runDue(w, now.Add(2*time.Minute)) {
		if j.Target.Monitor == "disable" {
			t.Fatal("disabled monitor was dispatched")
		}
	}
}

func TestBackpressureKeepsMonitorsDue(t *testing.T) {
	var ms []config.Monitor
	for i := range 100 {
		ms = append(ms, monitor(fmt.Sprintf("m%d", i)))
	}
	w := newWorld(t, ms...)
	now := t0.Add(10 * time.Second)
	budget := 30
	var got []CheckJob
	stopped := w.Due(now, func(j CheckJob) bool {
		if budget == 0 {
			return false
		}
		budget--
		got = append(got, j)
		return true
	})
	if !stopped || len(got) != 30 {
		t.Fatalf("stopped=%v dispatched=%d, want stop after 30", stopped, len(got))
	}
	rest := runDue(w, now)
	if len(got)+len(rest) != 100 {
		t.Fatalf("deferred monitors lost: %d + %d", len(got), len(rest))
	}
}

func TestRemedyOutcomeIgnoredWhenNotIntervening(t *testing.T) {
	w := newWorld(t, monitor("svc", withRemedy))
	var fx Effects
	w.ApplyRemedy(RemedyOutcome{Entity: fx0(w, "svc"), Err: errors.New("exit 1")}, t0, &fx)
	if len(fx.Codes) != 0 {
		t.Fatal("a remedy outcome for a monitor not intervening must be ignored")
	}
}

// retry_interval: a degraded monitor is checked again at it, a healthy
// one at its interval. max_failures 3 at 60s with a 5s retry confirms an
// outage 10s after the first failure instead of 2 minutes.
func TestRetryIntervalWhileDegraded(t *testing.T) {
	w := newWorld(t, monitor("a", func(m *config.Monitor) {
		m.Pulse.Interval, m.Pulse.RetryInterval, m.Pulse.MaxFailures = time.Minute, 5*time.Second, 3
	}))
	var fx Effects
	check := func(at time.Time, ok bool) (time.Time, incident.State) {
		t.Helper()
		jobs := runDue(w, at)
		if len(jobs) != 1 {
			t.Fatalf("at %v: %d due jobs, want 1", at.Sub(t0), len(jobs))
		}
		w.ApplyCheck(CheckOutcome{Entity: jobs[0].Entity, Due: jobs[0].Due, Result: pulse.Result{OK: ok, Reason: "503"}}, at, &fx)
		v, _ := w.Lookup("a")
		return v.Due, v.State
	}
	first, _ := w.Lookup("a")
	due, st := check(first.Due, false)
	if st != incident.Degraded || due.Sub(first.Due) != 5*time.Second {
		t.Fatalf("after the first failure: %v, next check %v later; want degraded, 5s", st, due.Sub(first.Due))
	}
	due, _ = check(due, false)
	due, st = check(due, false)
	if st != incident.Down || due.Sub(first.Due) != 10*time.Second+time.Minute {
		t.Fatalf("after three failures: %v, next check at +%v; want down at the interval again", st, due.Sub(first.Due))
	}
	next, st := check(due, true)
	if st != incident.Healthy || next.Sub(due) != time.Minute {
		t.Fatalf("after recovering: %v, next check %v later; want healthy, the interval", st, next.Sub(due))
	}
}
