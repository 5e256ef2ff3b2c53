package owner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// waitingRemedy is an intervention the queue has not accepted yet.
type waitingRemedy struct {
	job      world.RemedyJob
	deferred bool // counted in cpra_backpressure_deferred_total already
}

// submitRemedies queues waiting remedies; a full queue keeps them waiting
// (counted once as deferred), never drops them. A remedy whose target's
// breaker is open is not attempted: it fails at once with the breaker as
// the reason, which sends red like any failed intervention (the caller's
// flushEffects sends it).
func (o *Owner) submitRemedies(now time.Time) {
	kept := o.waitingRemedy[:0]
	for i := range o.waitingRemedy {
		w := &o.waitingRemedy[i]
		if o.world.ForeignEntity(w.job.Entity) {
			continue // taken over by another replica: its intervention now
		}
		if w.job.NotBefore.After(now) {
			kept = append(kept, *w) // held after a takeover (World.SetOwnership)
			continue
		}
		dest := w.job.Remedy.Destination(w.job.Request)
		allowed, trial := o.targets.Allow(dest, now)
		if !allowed {
			o.targets.Rejected(dest)
			o.m.Interventions.WithLabelValues(w.job.Type, "failure").Inc()
			o.applyRemedy(world.RemedyOutcome{Entity: w.job.Entity,
				Err:     fmt.Errorf("not attempted: circuit breaker open for %s after repeated failures", dest),
				Monitor: w.job.Request.Monitor, Type: w.job.Type, Destination: dest, Started: now, Ended: now}, now)
			continue
		}
		if !o.remedy.TrySubmit(w.job) {
			o.targets.Release(dest, trial)
			if !w.deferred {
				w.deferred = true
				o.remedy.Deferred()
			}
			kept = append(kept, o.waitingRemedy[i:]...)
			break
		}
		if trial {
			o.targetTrials[w.job.Entity] = struct{}{}
		}
	}
	clear(o.waitingRemedy[len(kept):])
	o.waitingRemedy = kept
	o.m.InterventionsWaiting.Set(float64(len(kept)))
}

// applyRemedy applies an intervention's outcome: its target's breaker
// learns of it (unless the breaker itself refused it), the monitor steps,
// and its span joins the incident.
func (o *Owner) applyRemedy(out world.RemedyOutcome, now time.Time) {
	if out.Attempted {
		_, trial := o.targetTrials[out.Entity]
		delete(o.targetTrials, out.Entity)
		o.targets.Record(out.Destination, trial, out.Err == nil, now)
		result := "success"
		if out.Err != nil {
			result = "failure"
		}
		o.m.Interventions.WithLabelValues(out.Type, result).Inc()
	}
	if host := pulse.HostOf(out.Address); out.Err == nil && host != "" {
		// The remedy changed what is behind the host: check it again now
		// instead of waiting out its breaker, so verification can succeed.
		o.hosts.Forget(host)
		o.flushHosts(now)
	}
	o.codePath.RemedySpan(out.Monitor, out.Type, out.Destination, out.Started, out.Ended, out.Err)
	o.world.ApplyRemedy(out, now, &o.fx)
}

// newIntervener is the intervention workers' function: it runs one remedy
// (with its retries) and returns the outcome, touching nothing the owner
// holds.
func newIntervener(log *slog.Logger) func(context.Context, world.RemedyJob) world.RemedyOutcome {
	return func(ctx context.Context, j world.RemedyJob) world.RemedyOutcome {
		log := log.With("component", "intervention", "monitor", j.Request.Monitor, "type", j.Type)
		if j.Trace.IsValid() {
			log = log.With("trace_id", j.Trace.TraceID().String())
		}
		log.Info("intervention started", "reason", j.Request.Reason)
		start := time.Now()
		err := intervention.Run(ctx, j.Remedy, j.Request)
		if err != nil {
			log.Warn("intervention failed", "err", err, "duration", time.Since(start).Round(time.Millisecond))
		} else {
			log.Info("intervention succeeded", "duration", time.Since(start).Round(time.Millisecond))
		}
		return world.RemedyOutcome{Entity: j.Entity, Err: err, Address: j.Address, Attempted: true,
			Monitor: j.Request.Monitor, Type: j.Type, Destination: j.Remedy.Destination(j.Request), Started: start, Ended: time.Now()}
	}
}
