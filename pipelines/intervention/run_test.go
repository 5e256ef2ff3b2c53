package intervention

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// flaky fails its first n attempts.
type flaky struct {
	n, calls atomic.Int32
	pol      Policy
	attempts []int
	applied  func() // called at each attempt, when set
}

func (f *flaky) Apply(ctx context.Context, r Request) error {
	f.attempts = append(f.attempts, r.Attempt)
	if f.applied != nil {
		f.applied()
	}
	if f.calls.Add(1) <= f.n.Load() {
		return errors.New("not yet")
	}
	return nil
}
func (f *flaky) Policy() Policy             { return f.pol }
func (f *flaky) Destination(Request) string { return "flaky" }

func TestRunRetriesWithBackoff(t *testing.T) {
	f := &flaky{pol: Policy{Retries: 2, Backoff: spec.Duration(time.Millisecond)}}
	f.n.Store(2)
	if err := Run(context.Background(), f, Request{Monitor: "m"}); err != nil {
		t.Fatalf("third attempt should succeed: %v", err)
	}
	if len(f.attempts) != 3 || f.attempts[2] != 3 {
		t.Fatalf("attempts = %v", f.attempts)
	}
}

func TestRunGivesUp(t *testing.T) {
	f := &flaky{pol: Policy{Retries: 1, Backoff: spec.Duration(time.Millisecond)}}
	f.n.Store(10)
	err := Run(context.Background(), f, Request{})
	if err == nil || !strings.Contains(err.Error(), "after 2 attempts: not yet") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	f := &flaky{pol: Policy{Retries: 5, Backoff: spec.Duration(time.Hour)}}
	f.n.Store(10)
	ctx, cancel := context.WithCancel(context.Background())
	f.applied = cancel // cancelled during the first attempt: Run must not wait out the hour of backoff
	if err := Run(ctx, f, Request{}); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v", err)
	}
}
