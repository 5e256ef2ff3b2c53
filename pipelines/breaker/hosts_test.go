package breaker

import (
	"testing"
	"time"
)

func TestHostsOpenOnlyOnAFailureRatioOfTheHostsOwnChecks(t *testing.T) {
	cfg := HostConfig{MinFailures: 5, FailureRatio: 0.8, Window: 10 * time.Second, OpenTimeout: time.Second, HalfOpenRequests: 1}
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		checks   []bool // hostDown, in order, 10 ms apart
		wantOpen bool
	}{
		{"a dead host: ten checks without an answer open it", repeat(true, 10), true},
		{"nine checks are not enough evidence", repeat(true, 9), false},
		{"a burst of five among many answered checks is noise", append(repeat(true, 5), repeat(false, 100)...), false},
		{"half of the host's checks failing is not most", interleave(20), false},
		{"most of them failing opens it", append(interleave(2), repeat(true, 8)...), true},
		{"healthy checks only: nothing on record", repeat(false, 1000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opened int
			h, err := NewHosts(cfg, func(tr Transition) {
				if tr.To == Open {
					opened++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, down := range tt.checks {
				h.Record("10.0.0.1", false, down, t0.Add(time.Duration(i)*10*time.Millisecond))
			}
			if got := h.State("10.0.0.1") == Open; got != tt.wantOpen {
				checks, failures := h.Evidence("10.0.0.1")
				t.Fatalf("open = %v, want %v (evidence %d of %d)", got, tt.wantOpen, failures, checks)
			}
			if h.State("10.0.0.2") != Closed {
				t.Fatal("another host is affected")
			}
		})
	}
}

func TestHostsWindowForgetsOldEvidence(t *testing.T) {
	cfg := HostConfig{MinFailures: 3, FailureRatio: 0.5, Window: time.Second, OpenTimeout: time.Second, HalfOpenRequests: 1}
	h, _ := NewHosts(cfg, nil)
	t0 := time.Unix(1000, 0)
	h.Record("h", false, true, t0)
	h.Record("h", false, true, t0.Add(100*time.Millisecond))
	// A window later the two failures no longer count.
	h.Record("h", false, true, t0.Add(1500*time.Millisecond))
	if h.State("h") != Closed {
		t.Fatal("opened on evidence from an old window")
	}
	h.Record("h", false, false, t0.Add(3*time.Second))
	h.Record("h", false, false, t0.Add(5*time.Second))
	if checks, _ := h.Evidence("h"); checks != 0 {
		t.Fatalf("a quiet window left %d checks on record", checks)
	}
}

func TestHostsHalfOpenTrialDecides(t *testing.T) {
	cfg := HostConfig{MinFailures: 1, FailureRatio: 1, Window: time.Minute, OpenTimeout: time.Second, HalfOpenRequests: 1}
	var to []State
	h, _ := NewHosts(cfg, func(tr Transition) { to = append(to, tr.To) })
	t0 := time.Unix(1000, 0)
	h.Record("h", false, true, t0)
	h.Record("h", false, true, t0)
	if ok, _ := h.Allow("h", t0.Add(500*time.Millisecond)); ok {
		t.Fatal("allowed while open")
	}
	ok, trial := h.Allow("h", t0.Add(2*time.Second))
	if !ok || !trial {
		t.Fatalf("after the open timeout: allowed %v trial %v", ok, trial)
	}
	if ok, _ := h.Allow("h", t0.Add(2*time.Second)); ok {
		t.Fatal("a second trial while the first is out")
	}
	h.Record("h", false, false, t0.Add(2*time.Second)) // a late non-trial: says nothing
	if h.State("h") != HalfOpen {
		t.Fatal("a non-trial outcome decided the half-open breaker")
	}
	h.Release("h", true)
	if ok, trial := h.Allow("h", t0.Add(3*time.Second)); !ok || !trial {
		t.Fatal("a released trial was not given back")
	}
	h.Record("h", true, false, t0.Add(3*time.Second))
	if h.State("h") != Closed {
		t.Fatal("a successful trial did not close it")
	}
	want := []State{Open, HalfOpen, Closed}
	if len(to) != len(want) {
		t.Fatalf("transitions %v, want %v", to, want)
	}
	for i := range want {
		if to[i] != want[i] {
			t.Fatalf("transitions %v, want %v", to, want)
		}
	}
}

func TestHostConfigValidate(t *testing.T) {
	good := HostConfig{MinFailures: 1, FailureRatio: 0.5, Window: time.Second, OpenTimeout: time.Second, HalfOpenRequests: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*HostConfig){
		func(c *HostConfig) { c.MinFailures = 0 },
		func(c *HostConfig) { c.FailureRatio = 0 },
		func(c *HostConfig) { c.FailureRatio = 1.5 },
		func(c *HostConfig) { c.Window = 0 },
		func(c *HostConfig) { c.OpenTimeout = 0 },
		func(c *HostConfig) { c.HalfOpenRequests = 0 },
	} {
		c := good
		bad(&c)
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func repeat(v bool, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// interleave returns n host-down results alternating with healthy ones.
func interleave(n int) []bool {
	var out []bool
	for range n {
		out = append(out, false, true)
	}
	return out
}
