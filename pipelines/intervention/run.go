package intervention

import (
	"context"
	"fmt"
	"time"
)

// Run applies r with its policy: each attempt gets the policy's timeout,
// failed attempts are retried after a backoff that doubles up to
// MaxBackoff, and the last error is returned with the attempt count.
func Run(ctx context.Context, r Remedy, req Request) error {
	pol := r.Policy().WithDefaults()
	backoff := pol.Backoff.Std()
	for attempt := 1; ; attempt++ {
		req.Attempt = attempt
		actx, cancel := context.WithTimeout(ctx, pol.Timeout.Std())
		err := r.Apply(actx, req)
		cancel()
		if err == nil {
			return nil
		}
		if attempt > pol.Retries {
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("attempt %d: %w (then cancelled: %v)", attempt, err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}
