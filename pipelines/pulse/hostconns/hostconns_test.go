package hostconns

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/internal/clock"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func newLimits(t *testing.T, cfg Config) (*Limits, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(t0)
	cfg.Clock = c
	l, err := New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

// acquire takes n slots of key without waiting, failing the test if any
// would have to wait.
func acquire(t *testing.T, l *Limits, key string, n, ceiling int) []*Host {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a slot that is not free at once fails instead of waiting
	var hs []*Host
	for i := range n {
		h, err := l.Acquire(ctx, key, ceiling, time.Time{})
		if err != nil {
			t.Fatalf("slot %d of %d for %s: %v", i+1, n, key, err)
		}
		hs = append(hs, h)
	}
	return hs
}

func release(hs []*Host, inTarget time.Duration) {
	for _, h := range hs {
		h.Release(inTarget)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Min: 10, Max: 5}, {Headroom: -1}, {Budget: -1}} {
		if _, err := New(cfg, prometheus.NewRegistry()); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// A burst to one host grows its limit at once, up to the ceiling; only the
// ceiling makes checks wait, and a check that waits past its context is
// refused without being counted against anything.
func TestBurstGrowsToTheCeiling(t *testing.T) {
	l, _ := newLimits(t, Config{Min: 4, Max: 100})
	hs := acquire(t, l, "api:443", 100, 0)
	if got := l.Limit("api:443"); got != 100 {
		t.Errorf("limit %d after a burst of 100, want the ceiling 100", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "api:443", 0, time.Time{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the 101st check at the ceiling: %v, want it to wait until its context ends", err)
	}
	if n := testutil.ToFloat64(l.m.waitTimeouts); n != 1 {
		t.Errorf("wait timeouts %v, want 1", n)
	}
	release(hs, time.Millisecond)
}

// A waiting check gets the first slot released, in order.
func TestWaitersAreServedInOrder(t *testing.T) {
	l, _ := newLimits(t, Config{Min: 1, Max: 1})
	first := acquire(t, l, "h:80", 1, 0)
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			h, err := l.Acquire(context.Background(), "h:80", 0, time.Time{})
			if err != nil {
				t.Error(err)
				return
			}
			got <- i
			h.Release(time.Millisecond)
		}()
		for waiting(l, "h:80") != i+1 { // queue them in a known order
			time.Sleep(time.Millisecond)
		}
	}
	release(first, time.Millisecond)
	if a, b := <-got, <-got; a != 0 || b != 1 {
		t.Errorf("served %d then %d, want 0 then 1", a, b)
	}
}

func waiting(l *Limits, key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[key]; h != nil {
		return len(h.waiters)
	}
	return 0
}

// Over windows, a host's limit settles on Little's law: its arrival rate
// times the time checks spend in the target, with square-root staffing and
// headroom; it shrinks when the demand falls.
func TestLimitFollowsLittlesLaw(t *testing.T) {
	l, c := newLimits(t, Config{Min: 2, Max: 1000, Headroom: 0.25, Window: time.Second})
	// 400 checks a second, each 50 ms in the target: R = 20 in flight.
	// Batches of 20 checks, evenly spread over each second.
	run := func(rate int, inTarget time.Duration, seconds int) {
		batches := rate / 20
		period := time.Second / time.Duration(batches)
		for range seconds * batches {
			hs := acquire(t, l, "gw:443", 20, 0)
			c.Advance(inTarget)
			release(hs, inTarget)
			c.Advance(period - inTarget)
		}
	}
	run(400, 50*time.Millisecond, 5)
	// λ is what was measured (the fake clock's seconds), W 50 ms.
	l.mu.Lock()
	h := l.hosts["gw:443"]
	r := h.lambda * h.w
	limit := h.limit
	l.mu.Unlock()
	want := int((r + staffingBeta*sqrt(r)) * 1.25)
	if limit < want || limit > want+1 {
		t.Errorf("limit %d for λW = %.1f; want about %d (square-root staffing with 25 %% headroom)", limit, r, want)
	}
	grown := limit
	run(40, 50*time.Millisecond, 5)
	if got := l.Limit("gw:443"); got >= grown {
		t.Errorf("limit %d after the demand fell tenfold, want below %d", got, grown)
	}
}

func sqrt(x float64) float64 {
	z := x
	for range 30 {
		if z == 0 {
			return 0
		}
		z = (z + x/z) / 2
	}
	return z
}

// The open-files budget bounds all hosts together: a host cannot grow
// into another's share, and the refusal is counted as fd_limit.
func TestBudgetBoundsAllHosts(t *testing.T) {
	l, _ := newLimits(t, Config{Min: 2, Max: 100, Budget: 30})
	a := acquire(t, l, "a:80", 20, 0)
	b := acquire(t, l, "b:80", 10, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "b:80", 0, time.Time{}); err == nil {
		t.Error("a check beyond the budget got a slot")
	}
	_, sum, inUse, _ := l.stats()
	if sum > 30 || inUse != 30 {
		t.Errorf("limits sum to %d with %d in use; want at most the budget of 30, all in use", sum, inUse)
	}
	if n := testutil.ToFloat64(l.m.changes.WithLabelValues("hold", ReasonFDLimit)); n == 0 {
		t.Error("no limit decision counted as held by fd_limit")
	}
	release(a, time.Millisecond)
	release(b, time.Millisecond)
}

// A monitor's own ceiling lowers its host's at once; a reload that raises
// it applies from the next window.
func TestMonitorCeiling(t *testing.T) {
	l, c := newLimits(t, Config{Min: 1, Max: 100, Window: time.Second})
	hs := acquire(t, l, "db:5432", 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "db:5432", 3, time.Time{}); err == nil {
		t.Error("a fourth check got a slot under max_connections_per_host 3")
	}
	release(hs, time.Millisecond)
	c.Advance(2 * time.Second)
	hs = acquire(t, l, "db:5432", 1, 10) // recomputes: the window saw 3
	c.Advance(2 * time.Second)
	hs = append(hs, acquire(t, l, "db:5432", 9, 10)...) // the window saw only 10
	release(hs, time.Millisecond)
}

// A host checked once in a while is forgotten as soon as its check is
// done, so a fleet of distinct hosts holds only those in flight; a host
// that grew keeps its limit until it has been idle a while.
func TestIdleHostsAreForgotten(t *testing.T) {
	l, c := newLimits(t, Config{Min: 2, Max: 100})
	for i := range 1000 {
		key := "10.0." + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":80"
		release(acquire(t, l, key, 1, 0), time.Millisecond)
	}
	if hosts, sum, _, _ := l.stats(); hosts != 0 || sum != 0 {
		t.Errorf("%d hosts holding %d slots after 1,000 one-off checks; want none", hosts, sum)
	}
	hs := acquire(t, l, "busy:80", 10, 0)
	release(hs, time.Millisecond)
	if l.Limit("busy:80") < 10 {
		t.Fatalf("a host that grew forgot its limit at once")
	}
	c.Advance(idleAfter)
	release(acquire(t, l, "other:80", 1, 0), time.Millisecond) // sweeps
	if got := l.Limit("busy:80"); got != 0 {
		t.Errorf("an idle grown host kept limit %d after %v", got, idleAfter)
	}
}
