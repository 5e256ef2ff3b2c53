package breaker

import (
	"fmt"
	"sync"
	"time"
)

// State is a breaker's state; its value is the cpra_breaker_state gauge.
type State uint8

// The states.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Config are the thresholds of every breaker in a Set.
type Config struct {
	FailureThreshold int           // consecutive failures that open the breaker
	OpenTimeout      time.Duration // how long it stays open before trial calls
	HalfOpenRequests int           // trial calls allowed, and successes needed to close
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.FailureThreshold < 1:
		return fmt.Errorf("failure_threshold must be at least 1, got %d", c.FailureThreshold)
	case c.OpenTimeout <= 0:
		return fmt.Errorf("open_timeout must be greater than zero, got %v", c.OpenTimeout)
	case c.HalfOpenRequests < 1:
		return fmt.Errorf("half_open_requests must be at least 1, got %d", c.HalfOpenRequests)
	}
	return nil
}

// entry is one destination's breaker.
type entry struct {
	state     State
	failures  int       // consecutive, while closed
	openedAt  time.Time // when it last opened
	trials    int       // half-open calls let through
	successes int       // half-open calls that succeeded
}

// Transition is reported on every state change.
type Transition struct {
	Destination string
	From, To    State
}

// Set is the breakers of one pipeline, keyed by destination. It is safe for
// concurrent use.
type Set struct {
	cfg          Config
	onTransition func(Transition)

	mu      sync.Mutex
	entries map[string]*entry
}

// NewSet returns an empty set. onTransition, if not nil, is called (outside
// the lock) on every state change, for metrics and logs.
func NewSet(cfg Config, onTransition func(Transition)) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Set{cfg: cfg, onTransition: onTransition, entries: map[string]*entry{}}, nil
}

// Allow reports whether a call to dest may go ahead at now, and whether it
// is one of a half-open breaker's trial calls. A call that was allowed must
// be followed by exactly one Record (or Release) with that trial flag.
func (s *Set) Allow(dest string, now time.Time) (allowed, trial bool) {
	var tr *Transition
	allowed, trial = func() (bool, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		e, ok := s.entries[dest]
		if !ok {
			return true, false // no failures on record: closed
		}
		switch e.state {
		case Closed:
			return true, false
		case Open:
			if now.Sub(e.openedAt) < s.cfg.OpenTimeout {
				return false, false
			}
			e.state, e.trials, e.successes = HalfOpen, 0, 0
			tr = &Transition{dest, Open, HalfOpen}
		}
		if e.trials >= s.cfg.HalfOpenRequests {
			return false, false
		}
		e.trials++
		return true, true
	}()
	s.report(tr)
	return allowed, trial
}

// Record reports the outcome of an allowed call to dest; trial is what
// Allow said. While half-open only trial calls decide: a call allowed
// while the breaker was still closed that finishes late says nothing about
// the destination now.
func (s *Set) Record(dest string, trial, ok bool, now time.Time) {
	var tr *Transition
	func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		e, exists := s.entries[dest]
		if !exists {
			if ok {
				return
			}
			e = &entry{}
			s.entries[dest] = e
		}
		switch e.state {
		case Closed:
			if ok {
				delete(s.entries, dest) // back to nothing on record
				return
			}
			e.failures++
			if e.failures >= s.cfg.FailureThreshold {
				e.state, e.openedAt = Open, now
				tr = &Transition{dest, Closed, Open}
			}
		case HalfOpen:
			if !trial {
				return
			}
			if !ok {
				e.state, e.openedAt = Open, now
				tr = &Transition{dest, HalfOpen, Open}
				return
			}
			e.successes++
			if e.successes >= s.cfg.HalfOpenRequests {
				delete(s.entries, dest)
				tr = &Transition{dest, HalfOpen, Closed}
			}
		case Open:
			// A call allowed before the breaker opened finished late: the
			// breaker already knows the destination is failing.
		}
	}()
	s.report(tr)
}

// State returns dest's current state (closed when nothing is on record).
func (s *Set) State(dest string) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[dest]; ok {
		return e.state
	}
	return Closed
}

// Tracked is the number of destinations with failures on record.
func (s *Set) Tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Each calls f for every destination with failures on record (closed ones
// still counting failures included), for the state gauge at scrape time. f
// runs outside the lock.
func (s *Set) Each(f func(dest string, st State)) {
	type pair struct {
		dest string
		st   State
	}
	s.mu.Lock()
	out := make([]pair, 0, len(s.entries))
	for d, e := range s.entries {
		out = append(out, pair{d, e.state})
	}
	s.mu.Unlock()
	for _, p := range out {
		f(p.dest, p.st)
	}
}

// Release gives back an allowed call that was never made (the caller could
// not queue it), so a half-open breaker does not wait for a trial that will
// never report. It must be used instead of Record, never with it.
func (s *Set) Release(dest string, trial bool) {
	if !trial {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[dest]; ok && e.state == HalfOpen && e.trials > 0 {
		e.trials--
	}
}

// Forget clears dest's record, closing its breaker at once: the caller
// knows the destination changed (a remedy restarted the service behind
// it), so the next call should go through rather than wait out the open
// timeout. A breaker that was not closed reports the transition.
func (s *Set) Forget(dest string) {
	var tr *Transition
	s.mu.Lock()
	if e, ok := s.entries[dest]; ok {
		if e.state != Closed {
			tr = &Transition{dest, e.state, Closed}
		}
		delete(s.entries, dest)
	}
	s.mu.Unlock()
	s.report(tr)
}

// RetryAt reports when an open breaker for dest lets a trial call through;
// ok is false when dest is not open.
func (s *Set) RetryAt(dest string) (at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, found := s.entries[dest]; found && e.state == Open {
		return e.openedAt.Add(s.cfg.OpenTimeout), true
	}
	return time.Time{}, false
}

// Config returns the thresholds the set was built with.
func (s *Set) Config() Config { return s.cfg }

func (s *Set) report(tr *Transition) {
	if tr != nil && s.onTransition != nil {
		s.onTransition(*tr)
	}
}
