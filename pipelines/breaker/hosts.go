package breaker

import (
	"fmt"
	"time"
)

// HostConfig are the thresholds of the pulse pipeline's per-host breakers.
// A host's breaker opens on evidence that the host is down: within one
// window, at least MinFailures of its own checks got no answer from the
// host at all, and they are at least FailureRatio of its checks in that
// window, of which there were at least twice MinFailures. (The checks are
// counted from the host's first host-down result on, so that a healthy
// host costs nothing; the second condition keeps a short burst of
// timeouts among many answered checks from opening it.) A host with few
// monitors never gathers that much evidence: each of its monitors then
// reports for itself, which is what its monitors are for.
type HostConfig struct {
	MinFailures      int           // host-down results within the window needed to open
	FailureRatio     float64       // and their share of the host's checks in the window, in (0, 1]
	Window           time.Duration // how far back the evidence counts
	OpenTimeout      time.Duration // how long it stays open before a trial check
	HalfOpenRequests int           // trial checks allowed, and successes needed to close
}

// Validate reports settings that cannot work.
func (c HostConfig) Validate() error {
	switch {
	case c.MinFailures < 1:
		return fmt.Errorf("failure_threshold must be at least 1, got %d", c.MinFailures)
	case !(c.FailureRatio > 0 && c.FailureRatio <= 1):
		return fmt.Errorf("failure_ratio must be in (0, 1], got %v", c.FailureRatio)
	case c.Window <= 0:
		return fmt.Errorf("window must be greater than zero, got %v", c.Window)
	case c.OpenTimeout <= 0:
		return fmt.Errorf("open_timeout must be greater than zero, got %v", c.OpenTimeout)
	case c.HalfOpenRequests < 1:
		return fmt.Errorf("half_open_requests must be at least 1, got %d", c.HalfOpenRequests)
	}
	return nil
}

// hostEntry is one host with evidence on record.
type hostEntry struct {
	state       State
	windowStart time.Time
	checks      int // of the host, in the window, since its first host-down result
	failures    int // host-down results among them
	openedAt    time.Time
	trials      int
	successes   int
}

// Hosts is the per-host breakers of the pulse pipeline. It belongs to one
// goroutine (the agent's owner) and is not safe for concurrent use: the
// owner asks it before handing out a check and tells it every outcome as
// it applies them, so no lock is needed and no outcome is ever late.
//
// Memory grows with the hosts that failed recently, not with monitors: a
// host is on record from its first host-down result until a window passes
// without one.
type Hosts struct {
	cfg          HostConfig
	onTransition func(Transition)
	entries      map[string]*hostEntry
}

// NewHosts returns an empty set. onTransition, if not nil, is called on
// every state change.
func NewHosts(cfg HostConfig, onTransition func(Transition)) (*Hosts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Hosts{cfg: cfg, onTransition: onTransition, entries: map[string]*hostEntry{}}, nil
}

// Allow reports whether a check of host may run at now, and whether it is
// a half-open breaker's trial. Every allowed trial must be followed by one
// Record with trial true, or by Release.
func (h *Hosts) Allow(host string, now time.Time) (allowed, trial bool) {
	e, ok := h.entries[host]
	if !ok || e.state == Closed {
		return true, false
	}
	if e.state == Open {
		if now.Sub(e.openedAt) < h.cfg.OpenTimeout {
			return false, false
		}
		e.state, e.trials, e.successes = HalfOpen, 0, 0
		h.report(host, Open, HalfOpen)
	}
	if e.trials >= h.cfg.HalfOpenRequests {
		return false, false
	}
	e.trials++
	return true, true
}

// Release gives back a trial that was never run.
func (h *Hosts) Release(host string, trial bool) {
	if e, ok := h.entries[host]; ok && trial && e.state == HalfOpen && e.trials > 0 {
		e.trials--
	}
}

// Record tells the breaker one check's outcome: hostDown says the host
// itself did not answer (see pulse.Result.HostDown). Outcomes that say
// nothing about the host (inconclusive checks) are not recorded.
func (h *Hosts) Record(host string, trial, hostDown bool, now time.Time) {
	e, ok := h.entries[host]
	if !ok {
		if !hostDown {
			return // the common case: a healthy host, nothing on record
		}
		e = &hostEntry{windowStart: now}
		h.entries[host] = e
	}
	switch e.state {
	case Closed:
		if now.Sub(e.windowStart) >= h.cfg.Window {
			if e.failures == 0 && !hostDown {
				delete(h.entries, host) // a quiet window: forget the host
				return
			}
			e.windowStart, e.checks, e.failures = now, 0, 0
		}
		e.checks++
		if hostDown {
			e.failures++
		}
		if e.failures >= h.cfg.MinFailures && e.checks >= 2*h.cfg.MinFailures &&
			float64(e.failures) >= h.cfg.FailureRatio*float64(e.checks) {
			e.state, e.openedAt = Open, now
			h.report(host, Closed, Open)
		}
	case HalfOpen:
		if !trial {
			return // allowed before it opened, finished late: says nothing now
		}
		if hostDown {
			e.state, e.openedAt = Open, now
			h.report(host, HalfOpen, Open)
			return
		}
		e.successes++
		if e.successes >= h.cfg.HalfOpenRequests {
			delete(h.entries, host)
			h.report(host, HalfOpen, Closed)
		}
	case Open:
		// Allowed before it opened, finished late.
	}
}

// Forget closes host's breaker at once: a remedy changed what is behind
// it, so its next checks should run rather than wait out the open timeout.
func (h *Hosts) Forget(host string) {
	if e, ok := h.entries[host]; ok {
		delete(h.entries, host)
		if e.state != Closed {
			h.report(host, e.state, Closed)
		}
	}
}

// State returns host's state (closed when nothing is on record).
func (h *Hosts) State(host string) State {
	if e, ok := h.entries[host]; ok {
		return e.state
	}
	return Closed
}

// Evidence returns the window's counts for host: its checks and the
// host-down results among them.
func (h *Hosts) Evidence(host string) (checks, failures int) {
	if e, ok := h.entries[host]; ok {
		return e.checks, e.failures
	}
	return 0, 0
}

// Each calls f for every host on record.
func (h *Hosts) Each(f func(host string, st State)) {
	for host, e := range h.entries {
		f(host, e.state)
	}
}

// Config returns the thresholds the set was built with.
func (h *Hosts) Config() HostConfig { return h.cfg }

func (h *Hosts) report(host string, from, to State) {
	if h.onTransition != nil {
		h.onTransition(Transition{Destination: host, From: from, To: to})
	}
}
