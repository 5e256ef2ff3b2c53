package code

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
)

// slowDead fails its first call at once, then every call hangs for `hang`
// and fails (a receiver that times out).
type slowDead struct {
	calls atomic.Int64
	hang  time.Duration
}

func (s *slowDead) Notify(ctx context.Context, n Notification) error {
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
func TestHalfOpenTrialInFlightDoesNotSpin(t *testing.T) {
	b := breaker.Config{FailureThreshold: 1, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1}
	d, m := newDispatcherWith(t, 64, RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour, MaxAge: time.Hour, AttemptTimeout: 5 * time.Second}, b)
	r := &slowDead{hang: 500 * time.Millisecond}
	d.Send(Notification{Monitor: "a", Code: Red}, []Notifier{r})
	waitFor(t, "open", func() bool { return d.breakers.State("webhook:slow") == breaker.Open })
	for _, mon := range []string{"b", "c", "d"} {
		d.Send(Notification{Monitor: mon, Code: Red}, []Notifier{r})
	}
	waitFor(t, "trial in flight", func() bool { return r.calls.Load() >= 2 })
	before := testutil.ToFloat64(m.BreakerRejected.WithLabelValues("code", "webhook:slow"))
	time.Sleep(300 * time.Millisecond)
	after := testutil.ToFloat64(m.BreakerRejected.WithLabelValues("code", "webhook:slow"))
	t.Logf("rejections during 300ms of one in-flight trial: %v", after-before)
	if after-before > 10 {
		t.Fatalf("dispatcher loop spins while a half-open trial is in flight: %v rejections in 300ms", after-before)
	}
	d.Close(context.Background())
}
