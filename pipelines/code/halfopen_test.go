package code

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
)

// slowDead fails its first call at once, then every call hangs for `hang`
// and fails (a receiver that times out).
type slowDead struct {
	calls atomic.Int64
	hang  time.Duration
}

func (s *slowDead) Notify(ctx context.Context, n domain.Notification) error {
	if s.calls.Add(1) > 1 {
		select {
		case <-time.After(s.hang):
		case <-ctx.Done():
		}
	}
	return errors.New("down")
}
func (s *slowDead) Destination() string         { return "webhook:slow" }
func (s *slowDead) Close(context.Context) error { return nil }

// While a half-open trial is in flight, the other held codes must stay
// held quietly: the loop must not spin re-probing and re-rejecting them.
// Spinning shows as the loop setting its timer for a moment that has come;
// waiting quietly, as a timer for a later moment (the trial's outcome
// wakes the loop).
func TestHalfOpenTrialInFlightDoesNotSpin(t *testing.T) {
	b := breaker.Config{FailureThreshold: 1, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	d, m := newDispatcherWith(t, 64, RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour, MaxAge: time.Hour, AttemptTimeout: 5 * time.Second}, b, WithClock(clk))
	r := &slowDead{hang: time.Hour}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{r})
	waitFor(t, "open", func() bool { return d.breakers.State("webhook:slow") == breaker.Open })
	for _, mon := range []string{"b", "c", "d"} {
		d.Send(domain.Notification{Monitor: mon, Code: domain.Red}, []Notifier{r})
	}
	rejected := func() float64 {
		return testmetrics.Value(t, m.Registry, "cpra_breaker_rejected_total", "pipeline", "code", "destination", "webhook:slow")
	}
	waitFor(t, "the three codes held", func() bool { return rejected() == 3 })
	clk.Advance(b.OpenTimeout)
	waitFor(t, "trial in flight", func() bool { return r.calls.Load() == 2 })
	waitFor(t, "the loop waiting for a later moment", func() bool {
		armed := clk.Armed()
		return len(armed) == 1 && armed[0].After(clk.Now())
	})
	if n := rejected(); n != 3 {
		t.Fatalf("%v rejections while one trial is in flight, want the 3 from before it", n)
	}
	if n := r.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want the first and one trial", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Close cancels the hanging trial
	_ = d.Close(ctx)
}
