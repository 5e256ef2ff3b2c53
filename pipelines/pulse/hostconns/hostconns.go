package hostconns

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/clock"
)

// Config bounds and tunes the per-host limits.
type Config struct {
	// Min is the limit of a host the agent knows nothing about yet, and
	// the floor of every host's limit.
	Min int
	// Max is the agent-wide ceiling per host. A monitor may lower it for
	// its host (Acquire's ceiling), never raise it.
	Max int
	// Headroom is the extra fraction on top of the square-root staffing
	// answer.
	Headroom float64
	// Budget bounds the sum of all hosts' limits: what the process's
	// open-files limit leaves for check connections (see
	// pipeline.OpenFilesBudget). 0 means no bound.
	Budget int
	// Window is how often a host's limit is recomputed from its
	// measurements; 0 means DefaultWindow.
	Window time.Duration
	// Clock times windows, waits and idleness; nil is the wall clock.
	Clock clock.Clock
}

// Defaults of Config.
const (
	DefaultMin      = 8
	DefaultMax      = 4096
	DefaultHeadroom = 0.25
	DefaultWindow   = time.Second
)

// staffingBeta is β of square-root staffing (Halfin–Whitt): R + β√R
// servers keep the chance that an arrival must wait small (β = 2 gives a
// few percent for Poisson arrivals) at any scale.
const staffingBeta = 2.0

// shrinkBelow: a host's limit shrinks only when the demand asks for under
// this fraction of it, so noise does not make it flap.
const shrinkBelow = 0.7

// smoothing weighs a new window's λ and W against the previous estimate.
const smoothing = 0.5

// idleAfter is how long a grown host with nothing in flight keeps its
// entry (its learned limit) before it is forgotten.
const idleAfter = 2 * time.Minute

// The reasons of a limit change (the `reason` label).
const (
	ReasonDemand  = "demand"   // Little's law, or checks waiting
	ReasonCeiling = "ceiling"  // held at max_connections_per_host
	ReasonFDLimit = "fd_limit" // held by the open-files budget
)

// Limits holds the per-host connection limits. It is safe for concurrent
// use; one is shared by every prober of the agent.
type Limits struct {
	cfg   Config
	clock clock.Clock

	mu        sync.Mutex
	hosts     map[string]*Host
	sumLimits int // Σ limit over hosts
	inUse     int // Σ inFlight
	lastSweep time.Time

	m metrics
}

// Host is one host's entry. A check holds it between Acquire and Release.
type Host struct {
	l        *Limits
	key      string
	limit    int
	inFlight int
	waiters  []chan struct{} // FIFO of checks waiting for a slot
	// ceiling is the lowest per-monitor ceiling in force (0: none);
	// seenCeiling the lowest asked for in this window, in force from the
	// next (so a reload that raises it applies within a window).
	ceiling, seenCeiling int
	lastUsed             time.Time

	// The current window.
	start       time.Time
	arrivals    int
	completions int
	busy        float64 // seconds in the target of the completed checks

	// Smoothed estimates; 0 until the first complete window.
	lambda, w float64
}

// New returns empty limits whose metrics are registered on reg.
func New(cfg Config, reg prometheus.Registerer) (*Limits, error) {
	if cfg.Min <= 0 {
		cfg.Min = DefaultMin
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	switch {
	case cfg.Max < cfg.Min:
		return nil, fmt.Errorf("hostconns: max %d is below min %d", cfg.Max, cfg.Min)
	case cfg.Headroom < 0 || math.IsNaN(cfg.Headroom):
		return nil, fmt.Errorf("hostconns: headroom must be 0 or more, got %v", cfg.Headroom)
	case cfg.Budget < 0:
		return nil, fmt.Errorf("hostconns: budget must be 0 or more, got %d", cfg.Budget)
	}
	l := &Limits{cfg: cfg, clock: cfg.Clock, hosts: map[string]*Host{}, lastSweep: cfg.Clock.Now()}
	if err := l.m.register(reg, l); err != nil {
		return nil, err
	}
	return l, nil
}

// Config returns the configuration in force, defaults filled in.
func (l *Limits) Config() Config { return l.cfg }

// Acquire waits until key (a host and port: pulse.AuthorityOf of a
// check's address) has a free slot, ctx ends, or the time by passes (zero:
// no limit). A timer is armed only when the check has to wait. ceiling, when positive, lowers the host's ceiling (a monitor's
// own max_connections_per_host). The returned Host must be released with
// Release once the check is done.
func (l *Limits) Acquire(ctx context.Context, key string, ceiling int, by time.Time) (*Host, error) {
	now := l.clock.Now()
	l.mu.Lock()
	h := l.hosts[key]
	if h == nil {
		h = l.newHost(key, now)
	}
	h.arrivals++
	h.lastUsed = now
	if ceiling > 0 {
		if h.seenCeiling == 0 || ceiling < h.seenCeiling {
			h.seenCeiling = ceiling
		}
		if h.ceiling == 0 || ceiling < h.ceiling {
			h.ceiling = ceiling // lowering applies at once
			if h.limit > ceiling {
				l.setLimit(h, ceiling, ReasonCeiling)
			}
		}
	}
	if now.Sub(h.start) >= l.cfg.Window {
		l.recompute(h, now)
	}
	if h.inFlight >= h.limit || len(h.waiters) > 0 {
		// Demand no estimate has seen yet (a new host, a burst, hangs that
		// have not timed out): grow now rather than at the window's end.
		l.grow(h)
	}
	if h.inFlight < h.limit && len(h.waiters) == 0 {
		h.inFlight++
		l.inUse++
		l.mu.Unlock()
		return h, nil
	}
	// At the ceiling or the open-files budget: wait, first in first out.
	ready := make(chan struct{})
	h.waiters = append(h.waiters, ready)
	l.mu.Unlock()
	l.m.waits.Inc()

	var expired <-chan time.Time
	if !by.IsZero() {
		timer := time.NewTimer(time.Until(by))
		defer timer.Stop()
		expired = timer.C
	}
	cause := context.DeadlineExceeded
	select {
	case <-ready:
		l.m.waited.Observe(l.clock.Now().Sub(now).Seconds())
		return h, nil
	case <-ctx.Done():
		cause = context.Cause(ctx)
	case <-expired:
	}
	l.mu.Lock()
	for i, c := range h.waiters {
		if c == ready {
			h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
			l.forget(h, l.clock.Now())
			l.mu.Unlock()
			l.m.waitTimeouts.Inc()
			l.m.waited.Observe(l.clock.Now().Sub(now).Seconds())
			return nil, fmt.Errorf("no connection slot for %s: %w (%d in flight, limit %d)", key, cause, h.inFlight, h.limit)
		}
	}
	// Admitted as the wait ended: the slot is ours.
	l.mu.Unlock()
	return h, nil
}

// Release gives the slot back. inTarget is how long the check spent in the
// target: from reaching out until it had its answer or gave up.
func (h *Host) Release(inTarget time.Duration) {
	l := h.l
	now := l.clock.Now()
	l.mu.Lock()
	h.completions++
	h.busy += inTarget.Seconds()
	h.inFlight--
	l.inUse--
	h.lastUsed = now
	l.admit(h)
	l.forget(h, now)
	if now.Sub(l.lastSweep) >= idleAfter/4 {
		l.sweep(now)
	}
	l.mu.Unlock()
}

// Limit is key's current limit, 0 for a host the limits do not hold.
func (l *Limits) Limit(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[key]; h != nil {
		return h.limit
	}
	return 0
}

func (l *Limits) newHost(key string, now time.Time) *Host {
	h := &Host{l: l, key: strings.Clone(key), start: now, lastUsed: now}
	l.hosts[h.key] = h
	l.setLimit(h, l.granted(h, l.cfg.Min), "")
	return h
}

// recompute closes h's window and sets its limit from the demand: square-
// root staffing on λW, raised to what is in flight and waiting, held to the
// ceiling and the open-files budget. Callers hold mu.
func (l *Limits) recompute(h *Host, now time.Time) {
	secs := now.Sub(h.start).Seconds()
	if secs <= 0 {
		return
	}
	lambda := float64(h.arrivals) / secs
	if h.lambda == 0 {
		h.lambda = lambda
	} else {
		h.lambda += smoothing * (lambda - h.lambda)
	}
	if h.completions > 0 {
		w := h.busy / float64(h.completions)
		if h.w == 0 {
			h.w = w
		} else {
			h.w += smoothing * (w - h.w)
		}
	}
	h.ceiling, h.seenCeiling = h.seenCeiling, 0
	ceiling := l.ceiling(h)
	r := h.lambda * h.w
	want := int(math.Ceil((r + staffingBeta*math.Sqrt(r)) * (1 + l.cfg.Headroom)))
	// Checks waiting now are demand the estimate has not seen yet (a new
	// host, a burst, hangs that have not timed out yet).
	want = max(want, h.inFlight+len(h.waiters), l.cfg.Min)
	reason := ReasonDemand
	if want > ceiling {
		want, reason = ceiling, ReasonCeiling
	}
	if want < h.limit && float64(want) >= shrinkBelow*float64(h.limit) {
		want = h.limit // within the hysteresis band: hold
	}
	if want > h.limit {
		if g := l.granted(h, want); g < want {
			want, reason = g, ReasonFDLimit
		}
	}
	if want != h.limit {
		l.setLimit(h, want, reason)
	}
	h.start, h.arrivals, h.completions, h.busy = now, 0, 0, 0
}

// grow raises h's limit by what one more check in flight needs, never
// past its ceiling or the open-files budget: no more, so a burst to one
// host does not reserve budget that another host's checks need. Callers
// hold mu.
func (l *Limits) grow(h *Host) {
	ceiling := l.ceiling(h)
	if h.limit >= ceiling {
		l.m.changes.WithLabelValues("hold", ReasonCeiling).Inc()
		return
	}
	want := min(ceiling, h.inFlight+len(h.waiters)+1)
	if g := l.granted(h, want); g < want {
		if g == h.limit {
			l.m.changes.WithLabelValues("hold", ReasonFDLimit).Inc()
			return
		}
		l.setLimit(h, g, ReasonFDLimit)
		return
	}
	l.setLimit(h, want, ReasonDemand)
}

func (l *Limits) ceiling(h *Host) int {
	if h.ceiling > 0 {
		return min(l.cfg.Max, h.ceiling)
	}
	return l.cfg.Max
}

// granted is how much of want the open-files budget allows h, never less
// than h already has (or the floor, for a new host).
func (l *Limits) granted(h *Host, want int) int {
	if l.cfg.Budget == 0 {
		return want
	}
	free := l.cfg.Budget - (l.sumLimits - h.limit)
	return max(min(want, free), h.limit, 1)
}

func (l *Limits) setLimit(h *Host, limit int, reason string) {
	if reason != "" {
		dir := "up"
		if limit < h.limit {
			dir = "down"
		}
		l.m.changes.WithLabelValues(dir, reason).Inc()
	}
	l.sumLimits += limit - h.limit
	h.limit = limit
}

// admit hands free slots to waiters in order. Callers hold mu.
func (l *Limits) admit(h *Host) {
	for len(h.waiters) > 0 && h.inFlight < h.limit {
		close(h.waiters[0])
		h.waiters[0] = nil
		h.waiters = h.waiters[1:]
		h.inFlight++
		l.inUse++
	}
	if len(h.waiters) == 0 {
		h.waiters = nil
	}
}

// forget drops h if it is idle and has learned nothing worth keeping, or
// has been idle for idleAfter. Callers hold mu.
func (l *Limits) forget(h *Host, now time.Time) {
	if h.inFlight > 0 || len(h.waiters) > 0 {
		return
	}
	// A host seen once in its window (one check a minute, say) is
	// forgotten at once; a busy one keeps its measurements until idle.
	if (h.limit <= l.cfg.Min && h.arrivals <= 1) || now.Sub(h.lastUsed) >= idleAfter {
		l.setLimit(h, 0, "")
		delete(l.hosts, h.key)
	}
}

// sweep forgets grown hosts idle for idleAfter. Callers hold mu. The map
// holds only hosts with checks in flight and hosts that grew, so it stays
// small next to the fleet.
func (l *Limits) sweep(now time.Time) {
	l.lastSweep = now
	for _, h := range l.hosts {
		l.forget(h, now)
	}
}

// stats is what the gauges read.
func (l *Limits) stats() (hosts, sumLimits, inUse, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		waiting += len(h.waiters)
	}
	return len(l.hosts), l.sumLimits, l.inUse, waiting
}
