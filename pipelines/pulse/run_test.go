package pulse

import (
	"context"
	"testing"
)

func TestRetry(t *testing.T) {
	failing := func(calls *int) func(context.Context) Result {
		return func(context.Context) Result { *calls++; return Result{Reason: "refused"} }
	}
	t.Run("every attempt fails", func(t *testing.T) {
		calls := 0
		r := Retry(context.Background(), 2, failing(&calls))
		if calls != 3 || r.OK || r.Reason != "refused (3 attempts)" {
			t.Errorf("%d attempts, result %+v; want 3 and the count in the reason", calls, r)
		}
	})
	t.Run("a retry succeeds", func(t *testing.T) {
		calls := 0
		r := Retry(context.Background(), 5, func(context.Context) Result { calls++; return Result{OK: calls == 2} })
		if calls != 2 || !r.OK {
			t.Errorf("%d attempts, result %+v; want success at the second", calls, r)
		}
	})
	t.Run("no retries", func(t *testing.T) {
		calls := 0
		if r := Retry(context.Background(), 0, failing(&calls)); calls != 1 || r.Reason != "refused" {
			t.Errorf("%d attempts, reason %q", calls, r.Reason)
		}
	})
	t.Run("no attempt that cannot start before the deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), RetryBackoff/2)
		defer cancel()
		calls := 0
		if r := Retry(ctx, 3, failing(&calls)); calls != 1 || r.Reason != "refused" {
			t.Errorf("%d attempts with the deadline nearer than the backoff, reason %q", calls, r.Reason)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := 0
		if Retry(ctx, 3, failing(&calls)); calls != 1 {
			t.Errorf("%d attempts after the context ended", calls)
		}
	})
}
