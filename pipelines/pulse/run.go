package pulse

import (
	"context"
	"errors"
	"time"
)

// StarvationSlack is how long after its deadline a failed check may end
// before the agent concludes that its goroutine was starved of CPU: a
// prober sees its deadline within microseconds when the process gets to
// run, so a quarter of a second late means the process did not.
const StarvationSlack = 250 * time.Millisecond

// Run probes t with the timeout as the context deadline and reports the
// result and how long it took. A failure that ends more than
// StarvationSlack past the deadline is inconclusive: the time measured the
// agent, not the target.
func Run(ctx context.Context, p Prober, t Target, timeout time.Duration) (Result, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	r := p.Probe(ctx, t)
	d := time.Since(start)
	if !r.OK && r.Reason == "" {
		r.Reason = "check failed"
	}
	if !r.OK && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.TimedOut = true
	}
	if !r.OK && r.Inconclusive == "" && d > timeout+StarvationSlack {
		r.Inconclusive = InconclusiveStarved
	}
	return r, d
}
