package pulse

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

// gated is a Prober behind one slot: Admit waits for it.
type gated struct {
	slot    chan struct{}
	answer  time.Duration // how long the target takes
	holders atomic.Int32
}

type heldSlot struct{ g *gated }

func (s heldSlot) Release(time.Duration) { s.g.holders.Add(-1); <-s.g.slot }

func (g *gated) Admit(ctx context.Context, _ Target, by time.Time) (Slot, error) {
	select {
	case g.slot <- struct{}{}:
		g.holders.Add(1)
		return heldSlot{g}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no slot: %w", ctx.Err())
	case <-time.After(time.Until(by)):
		return nil, fmt.Errorf("no slot: %w", context.DeadlineExceeded)
	}
}

func (g *gated) Probe(ctx context.Context, _ Target) Result {
	select {
	case <-time.After(g.answer):
		return Result{OK: true}
	case <-ctx.Done():
		return Result{Reason: "timeout", Unreachable: true}
	}
}

// The timeout measures the target: time spent waiting for a slot is the
// agent's and shows as the queued phase; a slot that never comes makes
// the check inconclusive; a target that takes longer than the timeout once
// the check reached it has failed.
func TestRunChargesOnlyTheTarget(t *testing.T) {
	g := &gated{slot: make(chan struct{}, 1), answer: 30 * time.Millisecond}
	g.slot <- struct{}{} // someone else holds the one slot
	go func() { time.Sleep(40 * time.Millisecond); <-g.slot }()
	r, inTarget, waited := Run(context.Background(), g, Target{}, 50*time.Millisecond)
	if !r.OK || r.Inconclusive != "" {
		t.Errorf("a check that waited %v for its slot, then got its answer in %v of a 50ms timeout: %+v", waited, inTarget, r)
	}
	if waited < 40*time.Millisecond || r.Phases[PhaseQueued] != waited {
		t.Errorf("waited %v, queued phase %v; want the wait for the slot in both", waited, r.Phases[PhaseQueued])
	}
	if g.holders.Load() != 0 {
		t.Error("the slot was not released")
	}

	g.slot <- struct{}{} // held for good
	r, _, _ = Run(context.Background(), g, Target{}, 20*time.Millisecond)
	if r.OK || r.Inconclusive != InconclusiveLocalPool || r.TimedOut {
		t.Errorf("no slot within the timeout: %+v; want inconclusive %q", r, InconclusiveLocalPool)
	}
	<-g.slot

	g.answer = time.Hour // a target that hangs
	r, _, _ = Run(context.Background(), g, Target{}, 20*time.Millisecond)
	if r.OK || r.Inconclusive != "" || !r.TimedOut {
		t.Errorf("a target that got the request and never answered: %+v; want a timed-out failure", r)
	}
}

// keeper keeps its deadline itself: it waits for its context past the
// deadline (a socket deadline would end it there) and reports what the
// context said.
type keeper struct {
	keeps                 bool
	doneAtDeadline        bool
	errAfter, enforcedErr error
}

func (k *keeper) KeepsDeadline(Target) bool { return k.keeps }

func (k *keeper) Probe(ctx context.Context, _ Target) Result {
	deadline, ok := ctx.Deadline()
	if !ok {
		return Result{Reason: "no deadline"}
	}
	select {
	case <-ctx.Done():
		k.doneAtDeadline = true
	case <-time.After(time.Until(deadline) + 30*time.Millisecond):
	}
	k.errAfter = ctx.Err()
	enforced, cancel := Enforced(ctx)
	defer cancel()
	<-enforced.Done() // past the deadline already: at once
	k.enforcedErr = enforced.Err()
	return Result{Reason: "timeout"}
}

// A DeadlineKeeper gets a context that carries the deadline and says it
// passed, without a timer behind it; Enforced gives one that ends there.
// A prober that does not keep its deadline gets a context done at it.
func TestRunDeadlineKeeper(t *testing.T) {
	k := &keeper{keeps: true}
	r, _, _ := Run(context.Background(), k, Target{}, 20*time.Millisecond)
	if !r.TimedOut {
		t.Errorf("a keeper past its deadline: %+v, want timed out", r)
	}
	if k.doneAtDeadline {
		t.Error("the keeper's context was done at the deadline: a timer was armed")
	}
	if !errors.Is(k.errAfter, context.DeadlineExceeded) || !errors.Is(k.enforcedErr, context.DeadlineExceeded) {
		t.Errorf("after the deadline: Err %v, enforced %v; want deadline exceeded from both", k.errAfter, k.enforcedErr)
	}

	k = &keeper{keeps: false}
	if r, _, _ = Run(context.Background(), k, Target{}, 20*time.Millisecond); !r.TimedOut || !k.doneAtDeadline {
		t.Errorf("a prober that does not keep its deadline: %+v, done at the deadline %v; want both", r, k.doneAtDeadline)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k = &keeper{keeps: true}
	Run(ctx, k, Target{}, 20*time.Millisecond)
	if !errors.Is(k.errAfter, context.Canceled) {
		t.Errorf("a keeper whose agent stopped: Err %v, want canceled", k.errAfter)
	}
}

// outOfFiles fails as a prober whose socket could not be opened fails.
type outOfFiles struct{}

func (outOfFiles) Probe(context.Context, Target) Result {
	return Result{Reason: "GET http://10.0.0.1/: dial tcp 10.0.0.1:80: socket: " + syscall.EMFILE.Error(), Unreachable: true, HostDown: true}
}

// Running out of file descriptors is the agent's limit, never the
// target's failure: inconclusive, and no evidence against the host.
func TestOutOfFilesIsInconclusive(t *testing.T) {
	r, _, _ := Run(context.Background(), outOfFiles{}, Target{}, time.Second)
	if r.OK || r.Inconclusive != InconclusiveOpenFiles || r.Unreachable || r.HostDown {
		t.Fatalf("%+v, want inconclusive %q and nothing said about the host", r, InconclusiveOpenFiles)
	}
	if !OutOfFiles("dial tcp 10.0.0.1:80: socket: " + syscall.ENFILE.Error()) {
		t.Errorf("ENFILE (%q) not recognised", syscall.ENFILE.Error())
	}
	// A target's own words are its failure, whatever they say.
	for _, reason := range []string{
		`body matches fail_if_body_matches_regexp "error": "accept: too many open files"`,
		"status 503",
		"too many open files", // not as an error wraps it
	} {
		if OutOfFiles(reason) {
			t.Errorf("%q read as the agent out of descriptors", reason)
		}
	}
}
