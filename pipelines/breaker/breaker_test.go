package breaker

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func newSet(t *testing.T, trs *[]Transition) *Set {
	t.Helper()
	s, err := NewSet(Config{FailureThreshold: 3, OpenTimeout: 10 * time.Second, HalfOpenRequests: 2}, func(tr Transition) {
		*trs = append(*trs, tr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func call(s *Set, dest string, ok bool, now time.Time) bool {
	allowed, trial := s.Allow(dest, now)
	if !allowed {
		return false
	}
	s.Record(dest, trial, ok, now)
	return true
}

// allowed is Allow without the trial flag, for conditions.
func allowed(s *Set, dest string, now time.Time) bool {
	ok, _ := s.Allow(dest, now)
	return ok
}

func TestLifecycle(t *testing.T) {
	var trs []Transition
	s := newSet(t, &trs)
	const d = "alertmanager:http://am:9093"

	// Two failures and a success: the streak resets, nothing kept.
	call(s, d, false, t0)
	call(s, d, false, t0)
	call(s, d, true, t0)
	if s.Tracked() != 0 || s.State(d) != Closed {
		t.Fatalf("after recovery: tracked %d, state %v", s.Tracked(), s.State(d))
	}
	// Three consecutive failures open it.
	for range 3 {
		call(s, d, false, t0)
	}
	if s.State(d) != Open {
		t.Fatalf("state %v after 3 failures, want open", s.State(d))
	}
	if allowed(s, d, t0.Add(9*time.Second)) {
		t.Fatal("open breaker allowed a call before its timeout")
	}
	// After the timeout: two trial calls, a third is refused.
	now := t0.Add(10 * time.Second)
	for trial := range 2 {
		if !allowed(s, d, now) {
			t.Fatalf("half-open breaker refused trial %d of HalfOpenRequests=2", trial+1)
		}
	}
	if allowed(s, d, now) {
		t.Fatal("half-open breaker allowed more trials than configured")
	}
	s.Record(d, true, true, now)
	if s.State(d) != HalfOpen {
		t.Fatalf("one success of two: state %v, want half_open", s.State(d))
	}
	s.Record(d, true, true, now)
	if s.State(d) != Closed || s.Tracked() != 0 {
		t.Fatalf("two successes: state %v tracked %d, want closed and forgotten", s.State(d), s.Tracked())
	}
	want := fmt.Sprint([]Transition{{d, Closed, Open}, {d, Open, HalfOpen}, {d, HalfOpen, Closed}})
	if fmt.Sprint(trs) != want {
		t.Fatalf("transitions %v\nwant        %v", trs, want)
	}
}

func TestHalfOpenFailureReopens(t *testing.T) {
	var trs []Transition
	s := newSet(t, &trs)
	for range 3 {
		call(s, "h", false, t0)
	}
	now := t0.Add(10 * time.Second)
	call(s, "h", false, now)
	if s.State("h") != Open {
		t.Fatalf("failed trial: state %v, want open", s.State("h"))
	}
	if allowed(s, "h", now.Add(5*time.Second)) {
		t.Fatal("the open timeout must restart from the failed trial")
	}
	if !allowed(s, "h", now.Add(10*time.Second)) {
		t.Fatal("a new trial is due after another timeout")
	}
}

func TestLateResultWhileOpenIsIgnored(t *testing.T) {
	var trs []Transition
	s := newSet(t, &trs)
	// Four calls allowed while closed; the first three failures open it.
	for range 4 {
		allowed(s, "h", t0)
	}
	for range 3 {
		s.Record("h", false, false, t0)
	}
	s.Record("h", false, true, t0) // the fourth finishes late
	if s.State("h") != Open {
		t.Fatalf("late success changed an open breaker to %v", s.State("h"))
	}
}

// TestCompact: a million healthy destinations keep nothing; failing ones
// are kept only until they recover.
func TestCompact(t *testing.T) {
	var trs []Transition
	s := newSet(t, &trs)
	for i := range 1_000_000 {
		call(s, fmt.Sprint("host-", i), true, t0)
	}
	for i := range 10 {
		call(s, fmt.Sprint("bad-", i), false, t0)
	}
	if got := s.Tracked(); got != 10 {
		t.Fatalf("tracked %d destinations, want only the 10 failing", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, err := NewSet(Config{FailureThreshold: 5, OpenTimeout: time.Millisecond, HalfOpenRequests: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if ok, trial := s.Allow("d", now); ok {
					s.Record("d", trial, (i+g)%3 != 0, now)
				}
			}
		})
	}
	wg.Wait()
	var seen int
	s.Each(func(string, State) { seen++ })
	if seen > 1 {
		t.Fatalf("one destination reported %d times", seen)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{FailureThreshold: 0, OpenTimeout: time.Second, HalfOpenRequests: 1},
		{FailureThreshold: 1, OpenTimeout: 0, HalfOpenRequests: 1},
		{FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenRequests: 0},
	} {
		if _, err := NewSet(c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestReleaseGivesBackATrial(t *testing.T) {
	s, err := NewSet(Config{FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenRequests: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call(s, "d", false, t0)
	if at, ok := s.RetryAt("d"); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("RetryAt = %v, %v; want %v, true", at, ok, t0.Add(time.Second))
	}
	later := t0.Add(2 * time.Second)
	if !allowed(s, "d", later) {
		t.Fatal("no trial after the open timeout")
	}
	if allowed(s, "d", later) {
		t.Fatal("a second trial while the first is out")
	}
	s.Release("d", true)
	if !allowed(s, "d", later) {
		t.Fatal("the released trial was not given back")
	}
	s.Record("d", true, true, later)
	if st := s.State("d"); st != Closed {
		t.Fatalf("state %v after a successful trial, want closed", st)
	}
	if _, ok := s.RetryAt("d"); ok {
		t.Fatal("RetryAt reports a closed breaker as open")
	}
	n := 0
	s.Each(func(string, State) { n++ })
	if n != 0 {
		t.Fatalf("Each reported %d destinations after recovery, want 0", n)
	}
}

func TestForgetClosesAtOnce(t *testing.T) {
	var got []Transition
	s, err := NewSet(Config{FailureThreshold: 2, OpenTimeout: time.Hour, HalfOpenRequests: 1}, func(tr Transition) { got = append(got, tr) })
	if err != nil {
		t.Fatal(err)
	}
	call(s, "d", false, t0)
	s.Forget("d") // closed with one failure: no transition, record gone
	call(s, "d", false, t0)
	if st := s.State("d"); st != Closed {
		t.Fatalf("one failure after Forget opened the breaker (%v): the count was not cleared", st)
	}
	call(s, "d", false, t0)
	if st := s.State("d"); st != Open {
		t.Fatalf("state %v after two failures, want open", st)
	}
	s.Forget("d")
	if !allowed(s, "d", t0) || s.Tracked() != 0 {
		t.Fatal("Forget did not close the breaker")
	}
	want := []Transition{{"d", Closed, Open}, {"d", Open, Closed}}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
}

// BenchmarkAllowRecordHealthy is the cost the breakers add to every check
// of a healthy destination: one Allow and one Record, no entry kept.
func BenchmarkAllowRecordHealthy(b *testing.B) {
	s, err := NewSet(Config{FailureThreshold: 5, OpenTimeout: time.Second, HalfOpenRequests: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, trial := s.Allow("host.example", t0); ok {
				s.Record("host.example", trial, true, t0)
			}
		}
	})
}

// BenchmarkRejectOpen is the cost of skipping a call to a dead destination.
func BenchmarkRejectOpen(b *testing.B) {
	s, err := NewSet(Config{FailureThreshold: 1, OpenTimeout: time.Hour, HalfOpenRequests: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	call(s, "dead.example", false, t0)
	b.ReportAllocs()
	for b.Loop() {
		if allowed(s, "dead.example", t0) {
			b.Fatal("allowed a call through an open breaker")
		}
	}
}

// TestLateCallDoesNotDecideHalfOpen: a call allowed while the breaker was
// closed that finishes after it went half-open is not the trial: it neither
// closes nor reopens the breaker; the trial's own result does.
func TestLateCallDoesNotDecideHalfOpen(t *testing.T) {
	s, err := NewSet(Config{FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenRequests: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, lateTrial := s.Allow("d", t0) // a slow call, allowed while closed
	call(s, "d", false, t0)          // another fails: open
	later := t0.Add(2 * time.Second)
	ok, trial := s.Allow("d", later)
	if !ok || !trial {
		t.Fatalf("no trial after the open timeout: %v %v", ok, trial)
	}
	s.Record("d", lateTrial, true, later) // the slow call succeeds late
	if st := s.State("d"); st != HalfOpen {
		t.Fatalf("a late non-trial success moved the breaker to %v", st)
	}
	s.Record("d", trial, false, later) // the trial fails
	if st := s.State("d"); st != Open {
		t.Fatalf("the failed trial left the breaker %v, want open", st)
	}
}
