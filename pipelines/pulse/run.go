package pulse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// StarvationSlack is how long after its deadline a failed check may end
// before the agent concludes that its goroutine was starved of CPU: a
// prober sees its deadline within microseconds when the process gets to
// run, so a quarter of a second late means the process did not.
const StarvationSlack = 250 * time.Millisecond

// Run probes t with the timeout as the context deadline and reports the
// result, how long the check spent in the target, and how long it waited
// for a slot first (a Gated prober's; that wait is in r.Phases too, as
// PhaseQueued).
//
// The timeout measures the target: it starts when the check reaches out,
// after any wait for a slot. A check that gets no slot within the timeout
// is inconclusive (InconclusiveLocalPool): the target was never asked. A
// failure that ends more than StarvationSlack past the deadline is
// inconclusive too: the time measured the agent, not the target.
func Run(ctx context.Context, p Prober, t Target, timeout time.Duration) (r Result, inTarget, waited time.Duration) {
	if g, ok := p.(Gated); ok {
		began := time.Now()
		slot, err := g.Admit(ctx, t, began.Add(timeout))
		waited = time.Since(began)
		if err != nil {
			r = Result{Inconclusive: InconclusiveLocalPool, Reason: err.Error()}
			r.Phases[PhaseQueued] = waited
			return r, 0, waited
		}
		defer func() { slot.Release(inTarget) }()
	}
	start := time.Now()
	deadline := start.Add(timeout)
	if k, ok := p.(DeadlineKeeper); ok && k.KeepsDeadline(t) {
		ctx = keptDeadline{ctx, deadline}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	r = p.Probe(ctx, t)
	d := time.Since(start)
	r.Phases[PhaseQueued] = waited
	if !r.OK && r.Reason == "" {
		r.Reason = "check failed"
	}
	if !r.OK && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.TimedOut = true
	}
	if !r.OK && r.Inconclusive == "" && d > timeout+StarvationSlack {
		r.Inconclusive = InconclusiveStarved
	}
	if !r.OK && r.Inconclusive == "" && OutOfFiles(r.Reason) {
		r.Inconclusive = InconclusiveOpenFiles
		r.Unreachable, r.HostDown = false, false
	}
	return r, d, waited
}

// OutOfFiles reports whether a failure's reason says the process ran out
// of file descriptors. Every kind words its failure from the error, and
// the shortage can strike at any step (a socket, a TLS handshake's read, a
// resolver's socket, a script's pipes), so the reason is what all kinds
// have in common: EMFILE's text (which ENFILE's begins with), as an error
// wraps it (after ": "), never inside a quoted value: a target whose
// answer says "too many open files" has failed, and must not be excused.
func OutOfFiles(reason string) bool {
	text := syscall.EMFILE.Error()
	for from := 0; ; {
		i := strings.Index(reason[from:], text)
		if i < 0 {
			return false
		}
		i += from
		if strings.HasSuffix(reason[:i], ": ") && strings.Count(reason[:i], `"`)%2 == 0 {
			return true
		}
		from = i + len(text)
	}
}

// keptDeadline is the context Run gives a DeadlineKeeper: the parent's
// cancellation and values, and a deadline the prober keeps itself.
type keptDeadline struct {
	context.Context
	deadline time.Time
}

func (c keptDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c keptDeadline) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Enforced returns ctx made done at its deadline: ctx itself unless it is
// the kept-deadline context Run gives a DeadlineKeeper, which is not. A
// DeadlineKeeper calls it before any step it does not bound itself.
func Enforced(ctx context.Context) (context.Context, context.CancelFunc) {
	if k, ok := ctx.(keptDeadline); ok {
		return context.WithDeadline(k.Context, k.deadline)
	}
	return ctx, func() {}
}

// Retry makes up to 1+retries attempts of one probe within ctx's deadline,
// RetryBackoff apart, for the kinds that take a `retries` key. It returns
// the first success, or the last failure, whose reason then says how many
// attempts it took. It makes no attempt that could not start before the
// deadline, and stops when ctx ends.
func Retry(ctx context.Context, retries int, attempt func(context.Context) Result) Result {
	for n := 1; ; n++ {
		r := attempt(ctx)
		if r.OK {
			return r
		}
		if n > retries || !pause(ctx, RetryBackoff) {
			if n > 1 {
				r.Reason += fmt.Sprintf(" (%d attempts)", n)
			}
			return r
		}
	}
}

// pause waits d before another attempt. It reports false, without
// waiting, when the attempt after the pause could not start before ctx's
// deadline, and false when ctx ends during the pause.
func pause(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
