package owner

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// stops remembers when the scheduler last stopped at the pulse queue's
// high water mark, so that a check accepted after waiting out a stop is
// counted as deferred. Overload is shown this way (deferrals, lag), never
// by excusing a check: a target that got the request and did not answer
// in its timeout has failed however busy the agent is, because the
// timeout starts only when the check reaches out (pulse.Run).
type stops struct {
	last int64 // unix ns
}

func (s *stops) stopped(now time.Time) { s.last = now.UnixNano() }

// deferred reports whether a check due at due waited out a stop of the
// scheduler before it was accepted.
func (s *stops) deferred(due int64) bool { return due <= s.last }

// offerCheck hands a due check to the pulse pipeline, unless its host's
// breaker is open: then it is not run, and not a failure either (the
// host's one red code says why its monitors are not checked). Refusal
// (backpressure) leaves the monitor due.
//
// Urgent checks (monitors not healthy, retries of inconclusive checks) go
// to the pipeline's urgent lane, which backpressure does not hold: while
// the agent catches up on routine checks, detection does not wait.
func (o *Owner) offerCheck(j world.CheckJob) world.OfferResult {
	if !j.Urgent && o.pulse.Backpressure() {
		return world.Refused
	}
	host := pulse.HostOf(j.Target.Address)
	now := time.Now()
	trial := false
	if host != "" {
		var allowed bool
		if allowed, trial = o.hosts.Allow(host, now); !allowed {
			o.hosts.Rejected(host)
			return world.Skipped
		}
	}
	due := time.Unix(0, j.Due)
	submit := o.pulse.TrySubmitAt
	if j.Urgent {
		submit = o.pulse.TrySubmitUrgentAt
	}
	if !submit(j, due) {
		if host != "" {
			o.hosts.Release(host, trial)
		}
		return world.Refused
	}
	if trial {
		o.hostTrials[j.Entity] = struct{}{}
	}
	if o.stops.deferred(j.Due) {
		o.pulse.Deferred()
	}
	return world.Accepted
}

// drainChecks applies the outcomes waiting in the pulse pipeline, in
// batches of at most maxResultBatch between flushes of their effects, and
// no more than were waiting when it began: workers that keep delivering
// do not hold the owner here.
func (o *Owner) drainChecks() {
	results := o.pulse.Results()
	for left := len(results); left > 0; {
		now := time.Now()
		n := min(left, maxResultBatch)
		for range n {
			o.applyCheck(<-results, now)
		}
		left -= n
		o.flushEffects()
	}
}

// applyCheck applies one check outcome: it decides whether the check was
// conclusive, informs the host's breaker, counts it, steps the monitor,
// and records the check's span (in the monitor's incident trace when it
// has one) and duration, with the span's trace as an exemplar.
func (o *Owner) applyCheck(out world.CheckOutcome, now time.Time) {
	r := &out.Result
	trial := false
	if len(o.hostTrials) > 0 { // almost always empty: no map work per check
		_, trial = o.hostTrials[out.Entity]
		delete(o.hostTrials, out.Entity)
	}
	if host := pulse.HostOf(out.Address); host != "" {
		if r.Inconclusive == "" {
			o.hosts.Record(host, trial, r.HostDown, now)
			if !r.OK && (r.HostDown || r.Unreachable) && o.hosts.State(host) != breaker.Closed {
				// In flight when the host's breaker opened, or a trial that
				// opened it again: the host's one code covers it. The
				// monitor keeps its state; its retry finds the breaker open
				// and waits for the host with the rest.
				r.Inconclusive = pulse.InconclusiveHostDown
			}
		} else {
			o.hosts.Release(host, trial)
		}
	}
	o.countCheck(out)
	m, applied := o.world.ApplyCheck(out, now, &o.fx)
	if !applied {
		return // stale: the monitor changed while the check ran
	}
	if r.Inconclusive != "" {
		return // neither for nor against the monitor: no span, no duration
	}
	o.takeChanges() // an incident this check opened takes its span
	sc := o.codePath.CheckSpan(m.Name, m.CheckType, out.Started, out.Duration, r.OK, r.Reason)
	obs := o.m.CheckDuration.WithLabelValues(m.CheckType)
	if sc.IsSampled() {
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(out.Duration.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	obs.Observe(out.Duration.Seconds())
}

// checkCounters are one check type's cpra_checks_total series.
type checkCounters struct {
	success, failure, inconclusive prometheus.Counter
	byReason                       map[string]prometheus.Counter
}

// countCheck counts a check that ran; whether it was conclusive is
// decided by the owner, in applyCheck.
func (o *Owner) countCheck(out world.CheckOutcome) {
	c := o.checkCounts[out.Type]
	if c == nil {
		c = &checkCounters{
			success:      o.m.Checks.WithLabelValues(out.Type, "success"),
			failure:      o.m.Checks.WithLabelValues(out.Type, "failure"),
			inconclusive: o.m.Checks.WithLabelValues(out.Type, "inconclusive"),
			byReason:     map[string]prometheus.Counter{},
		}
		o.checkCounts[out.Type] = c
	}
	r := out.Result
	switch {
	case r.Inconclusive != "":
		c.inconclusive.Inc()
		rc := c.byReason[r.Inconclusive]
		if rc == nil {
			rc = o.m.ChecksInconclusive.WithLabelValues(out.Type, r.Inconclusive)
			c.byReason[r.Inconclusive] = rc
		}
		rc.Inc()
		o.log.Debug("check inconclusive", "type", out.Type, "address", out.Address, "reason", r.Inconclusive, "detail", r.Reason)
	case r.OK:
		c.success.Inc()
	default:
		c.failure.Inc()
		o.log.Debug("check failed", "type", out.Type, "address", out.Address, "reason", r.Reason)
	}
}

// newChecker is the pulse workers' function: it runs one check and
// returns its outcome, touching nothing the owner holds. lag observes how
// late each check started. The outcome's queued phase is all the agent's
// time: the lag, then any wait for a connection slot.
func newChecker(lag, lagIntervals prometheus.Observer) func(context.Context, world.CheckJob) world.CheckOutcome {
	return func(ctx context.Context, j world.CheckJob) world.CheckOutcome {
		late := max(time.Since(time.Unix(0, j.Due)), 0)
		lag.Observe(late.Seconds())
		if j.Interval > 0 {
			lagIntervals.Observe(float64(late) / float64(j.Interval))
		}
		r, d, waited := pulse.Run(ctx, j.Prober, j.Target, j.Timeout)
		r.Phases[pulse.PhaseQueued] = late + waited
		return world.CheckOutcome{Entity: j.Entity, Due: j.Due, Type: j.Type, Address: j.Target.Address,
			Result: r, Started: time.Now().Add(-d), Duration: d, SlotWait: waited}
	}
}
