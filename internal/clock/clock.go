package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that is not set.
	NewTimer() Timer
}

// Timer is the part of time.Timer the agent uses.
type Timer interface {
	C() <-chan time.Time
	// Reset makes the timer fire at the given time (at once if it has
	// passed). A deadline rather than a duration: a fake clock moved
	// between computing the duration and setting it would shift it.
	Reset(at time.Time)
	Stop()
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Reset(at time.Time)  { t.t.Reset(max(time.Until(at), 0)) }
func (t realTimer) Stop()               { t.t.Stop() }

// Fake is a clock that stands still until Advance moves it. Its timers
// fire when the clock reaches their deadline. It is safe for concurrent
// use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a fake clock reading now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

// Now implements Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer implements Clock.
func (f *Fake) NewTimer() Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	return t
}

// Advance moves the clock forward by d and fires every timer whose
// deadline it reaches.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for _, t := range f.timers {
		t.fireIfDue(f.now)
	}
}

// Armed returns the deadlines of the timers that are set and have not
// fired, so a test can see when code under test means to wake up.
func (f *Fake) Armed() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, t := range f.timers {
		if t.armed {
			out = append(out, t.deadline)
		}
	}
	return out
}

type fakeTimer struct {
	f        *Fake
	c        chan time.Time
	deadline time.Time // guarded by f.mu
	armed    bool      // guarded by f.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(at time.Time) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.deadline, t.armed = at, true
	t.fireIfDue(t.f.now)
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.armed = false
}

// fireIfDue sends now on the channel when the deadline has come; like a
// time.Timer, a value not yet received is not doubled. f.mu is held.
func (t *fakeTimer) fireIfDue(now time.Time) {
	if !t.armed || now.Before(t.deadline) {
		return
	}
	t.armed = false
	select {
	case t.c <- now:
	default:
	}
}
