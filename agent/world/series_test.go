package world

import (
	"iter"
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// seriesLog records what the world tells its Series: of each view, what
// the per-monitor series show.
type seriesLog struct {
	sets    [][]seriesMonitor
	updates []seriesMonitor
}

type seriesMonitor struct {
	Name  string
	State incident.State
	Last  LastCheck
}

func shown(v View) seriesMonitor { return seriesMonitor{Name: v.Name, State: v.State, Last: v.Last} }

func (s *seriesLog) SetMonitors(vs iter.Seq[View]) {
	set := []seriesMonitor{}
	for v := range vs {
		set = append(set, shown(v))
	}
	s.sets = append(s.sets, set)
}

func (s *seriesLog) Update(v View) { s.updates = append(s.updates, shown(v)) }

func (s *seriesLog) lastSet() []seriesMonitor { return s.sets[len(s.sets)-1] }

func optedIn(m *config.Monitor) { m.Metrics = true }

func TestSeries(t *testing.T) {
	log := &seriesLog{}
	w, err := New(t0, Options{Series: log})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	w.Apply([]config.Monitor{
		monitor("a", optedIn, withRemedy),
		monitor("b"),
		monitor("off", optedIn, func(m *config.Monitor) { m.Enabled = false }),
	}, t0, &fx)
	want := []seriesMonitor{{Name: "a", State: incident.Unknown}, {Name: "off", State: incident.Maintenance}}
	if got := log.lastSet(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the first Apply the series have\n%+v\nwant\n%+v", got, want)
	}

	// Checks: every monitor keeps its last one; only opted-in ones are
	// reported, once per check.
	now := t0.Add(10*time.Second + 300*time.Millisecond)
	check := func(ok bool, d time.Duration) {
		t.Helper()
		jobs := runDue(w, now)
		if len(jobs) != 2 {
			t.Fatalf("%d jobs due, want 2 (a and b)", len(jobs))
		}
		for _, j := range jobs {
			w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: ok, Reason: "503"}, Duration: d}, now, &fx)
		}
		now = now.Add(10 * time.Second)
	}
	check(true, 120*time.Millisecond)
	wantLast := LastCheck{OK: true, At: t0.Add(10 * time.Second), Duration: 120 * time.Millisecond}
	if len(log.updates) != 1 || log.updates[0].Name != "a" || log.updates[0].State != incident.Healthy || !sameLast(log.updates[0].Last, wantLast) {
		t.Fatalf("updates %+v, want one for a: healthy, %+v", log.updates, wantLast)
	}
	for _, name := range []string{"a", "b"} {
		v, _ := w.Lookup(name)
		if !v.Last.Checked() || !sameLast(v.Last, wantLast) || v.Metrics != (name == "a") {
			t.Errorf("Lookup(%s): Last %+v, Metrics %v; want %+v, %v", name, v.Last, v.Metrics, wantLast, name == "a")
		}
	}
	check(false, 2*time.Second)
	if u := log.updates[len(log.updates)-1]; len(log.updates) != 2 || u.Last.OK || u.State != incident.Degraded || u.Last.Duration != 2*time.Second {
		t.Fatalf("after a failed check: updates %+v", log.updates)
	}
	check(false, time.Second) // a intervenes
	fx.Reset()
	w.ApplyRemedy(RemedyOutcome{Entity: fx0(w, "a")}, now, &fx)
	if u := log.updates[len(log.updates)-1]; len(log.updates) != 4 || u.State != incident.Verifying || u.Last.OK {
		t.Fatalf("after the remedy: updates %+v, want a verifying, its last check still failed", log.updates)
	}

	// A reload: a is disabled (its last check is forgotten: it is no
	// longer checked), b opts in, off is removed.
	w.Apply([]config.Monitor{
		monitor("a", optedIn, withRemedy, func(m *config.Monitor) { m.Enabled = false }),
		monitor("b", optedIn),
	}, now, &fx)
	bLast := LastCheck{OK: false, At: t0.Add(30 * time.Second), Duration: time.Second}
	got := log.lastSet()
	if len(got) != 2 || got[0] != (seriesMonitor{Name: "a", State: incident.Maintenance}) ||
		got[1].Name != "b" || got[1].State != incident.Down || !sameLast(got[1].Last, bLast) {
		t.Fatalf("after the reload the series have\n%+v\nwant a in maintenance without a check, b down with %+v", got, bLast)
	}
	if v, _ := w.Lookup("a"); v.Last.Checked() {
		t.Errorf("a disabled monitor keeps its last check: %+v", v.Last)
	}

	// Nobody opts in any more: an empty set, so every series goes.
	w.Apply([]config.Monitor{monitor("b")}, now, &fx)
	if got := log.lastSet(); len(got) != 0 {
		t.Fatalf("after opting out the series have %+v, want none", got)
	}
}

// sameLast compares last checks up to the float32 the duration is kept in.
func sameLast(a, b LastCheck) bool {
	return a.OK == b.OK && a.At.Equal(b.At) && math.Abs(float64(a.Duration-b.Duration)) < float64(time.Microsecond)
}

func TestLastCheckTimes(t *testing.T) {
	var rt Runtime
	if rt.lastCheck().Checked() {
		t.Fatal("a new monitor has a last check")
	}
	// Whole seconds, and never zero (zero means none).
	rt.recordCheck(true, 90*time.Minute, time.Unix(0, 500), 0, pulse.Phases{})
	if l := rt.lastCheck(); !l.Checked() || l.At.Unix() != 1 || l.Duration.Round(time.Millisecond) != 90*time.Minute {
		t.Errorf("at the epoch: %+v", l)
	}
	rt.recordCheck(false, 0, t0.Add(999*time.Millisecond), 0, pulse.Phases{})
	if l := rt.lastCheck(); !l.At.Equal(t0) || l.OK {
		t.Errorf("got %+v, want a failure at %v", l, t0)
	}
	rt.forgetCheck()
	if rt.lastCheck().Checked() {
		t.Error("a forgotten check is still there")
	}
}

func TestPackedPhases(t *testing.T) {
	in := pulse.Phases{
		pulse.PhaseQueued:     3 * time.Second,
		pulse.PhaseConnect:    137 * time.Microsecond,
		pulse.PhaseTLS:        0,
		pulse.PhaseProcessing: 50123 * time.Microsecond,
		pulse.PhaseTransfer:   10 * time.Minute, // beyond the range: saturates
	}
	out := packPhases(in).unpack()
	for ph := range pulse.NumPhases {
		want := in[ph]
		if ph == pulse.PhaseTransfer {
			want = time.Duration(0xfff<<15) * time.Microsecond
		}
		if d := out[ph] - want; d > want/4096+time.Microsecond || -d > want/4096+time.Microsecond {
			t.Errorf("%s: %v packed and unpacked is %v", ph, in[ph], out[ph])
		}
	}
	if s := unsafe.Sizeof(Runtime{}); s != 48 {
		t.Errorf("Runtime is %d bytes, want 48: a million monitors pay for every byte", s)
	}
}
