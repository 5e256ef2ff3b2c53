package world

import (
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/spec"
)

// ApplyStats says what a configuration change did.
type ApplyStats struct {
	Added, Updated, Unchanged, Removed int
}

// Apply makes the world match ms: new monitors are added, removed ones
// deleted (with gray when an incident was open), changed ones updated in
// place keeping their state, unchanged ones left alone.
func (w *World) Apply(ms []config.Monitor, now time.Time, fx *Effects) ApplyStats {
	var st ApplyStats
	profiles := make(map[spec.Key]*Profile, len(w.profiles))
	seen := make([]bool, 0, len(ms))
	mark := func(e ecs.Entity) {
		id := int(e.ID())
		for len(seen) <= id {
			seen = append(seen, false)
		}
		seen[id] = true
	}
	for i := range ms {
		m := &ms[i]
		p := w.profile(profiles, m)
		e, exists := w.byName[m.Name]
		if !exists {
			mark(w.add(m, p, now))
			st.Added++
			continue
		}
		mark(e)
		id, rt := w.monitors.Get(e)
		if id.Hash == m.Hash {
			id.Profile = p // same definition; the profile may be a fresh copy
			st.Unchanged++
			continue
		}
		st.Updated++
		old := id.Profile
		id.Address, id.Hash, id.Profile = m.Pulse.Address, m.Hash, p
		switch {
		case old.Enabled && !p.Enabled:
			w.step(e, id, rt, incident.Disabled, "", now, fx)
			rt.forgetCheck()
		case !old.Enabled && p.Enabled:
			w.step(e, id, rt, incident.Enabled, "", now, fx)
			// A check started before the monitor was disabled may still be
			// running; its outcome will not match the new due time and is
			// dropped, so it must not keep the monitor marked busy.
			rt.InFlight = false
			w.schedule(e, rt, firstDue(m.Name, p.Interval, now))
		case p.Enabled && old.Interval != p.Interval && !rt.InFlight:
			w.schedule(e, rt, firstDue(m.Name, p.Interval, now))
		}
	}
	// Everything not marked is gone from the file.
	var gone []ecs.Entity
	for _, e := range w.byName {
		if int(e.ID()) < len(seen) && seen[e.ID()] {
			continue
		}
		gone = append(gone, e)
	}
	for _, e := range gone {
		w.remove(e, now, fx)
		st.Removed++
	}
	w.profiles = profiles
	w.syncSeries(ms)
	return st
}

func (w *World) profile(profiles map[spec.Key]*Profile, m *config.Monitor) *Profile {
	if p, ok := profiles[m.ProfileKey]; ok {
		return p
	}
	p := &Profile{
		key:       m.ProfileKey,
		CheckType: m.Pulse.Type,
		Interval:  m.Pulse.Interval,
		Timeout:   m.Pulse.Timeout,
		Prober:    m.Pulse.Prober,
		Policy: incident.Policy{
			MaxFailures:      m.Pulse.MaxFailures,
			HealthyThreshold: m.Pulse.HealthyThreshold,
		},
		Intervention: m.Intervention,
		Codes:        m.Codes,
		Groups:       m.Groups,
		Enabled:      m.Enabled,
		Metrics:      m.Metrics,
	}
	if iv := m.Intervention; iv != nil {
		p.Policy.CanIntervene = true
		p.Policy.MaxPerWindow = iv.MaxPerWindow
		p.Policy.Window = iv.Window
	}
	profiles[m.ProfileKey] = p
	return p
}

func (w *World) add(m *config.Monitor, p *Profile, now time.Time) ecs.Entity {
	rt := Runtime{}
	if !p.Enabled {
		rt.Status.State = incident.Maintenance
	}
	e := w.monitors.NewEntity(&Identity{Name: m.Name, Address: m.Pulse.Address, Hash: m.Hash, Profile: p}, &rt)
	w.byName[m.Name] = e
	w.counts[rt.Status.State]++
	if p.Enabled {
		_, r := w.monitors.Get(e)
		w.schedule(e, r, firstDue(m.Name, p.Interval, now))
	}
	return e
}

func (w *World) remove(e ecs.Entity, now time.Time, fx *Effects) {
	id, rt := w.monitors.Get(e)
	w.step(e, id, rt, incident.Removed, "", now, fx)
	w.counts[rt.Status.State]--
	delete(w.byName, id.Name)
	delete(w.reasons, e)
	w.ecs.RemoveEntity(e) // wheel entries for it go stale and are skipped
}

func (w *World) schedule(e ecs.Entity, rt *Runtime, due int64) {
	rt.Due = due
	w.wheel.Add(e, due)
}

// Due hands every due monitor to submit, which returns false when the pulse
// queue is full. Due then stops: the remaining monitors stay due in the
// wheel and are offered again on the next call. Due reports whether it
// stopped early.
func (w *World) Due(now time.Time, submit func(CheckJob) bool) bool {
	return w.Offer(now, func(j CheckJob) Offer {
		if submit(j) {
			return Accepted
		}
		return Refused
	})
}

// Offer is Due with a third answer: a Skipped check is not run, and its
// monitor is rescheduled at its next interval with its state unchanged.
func (w *World) Offer(now time.Time, submit func(CheckJob) Offer) bool {
	return w.wheel.Advance(now.UnixNano(), func(en scheduleEntry) bool {
		if !w.ecs.Alive(en.ID) {
			return true // removed: a stale entry
		}
		id, rt := w.monitors.Get(en.ID)
		if rt.Due != en.Due || rt.InFlight || !id.Profile.Enabled {
			return true // rescheduled or disabled since: a stale entry
		}
		p := id.Profile
		switch submit(CheckJob{
			Entity:  en.ID,
			Due:     en.Due,
			Type:    p.CheckType,
			Prober:  p.Prober,
			Target:  pulseTarget(id),
			Timeout: p.Timeout,
		}) {
		case Accepted:
			rt.InFlight = true
		case Skipped:
			w.schedule(en.ID, rt, nextDue(en.Due, p.Interval, now.UnixNano()))
		case Refused:
			return false
		}
		return true
	})
}

// Applied describes the monitor an outcome was applied to, for the
// owner's tracing and metrics.
type Applied struct {
	Name, CheckType string
	State           incident.State // after the outcome
}

// ApplyCheck records a check's outcome, schedules the next check and runs
// the state machine. It reports false when the outcome was stale (the
// monitor was removed, disabled or rescheduled while the check ran) and
// so ignored.
func (w *World) ApplyCheck(o CheckOutcome, now time.Time, fx *Effects) (Applied, bool) {
	if !w.ecs.Alive(o.Entity) {
		return Applied{}, false // removed while the check ran
	}
	id, rt := w.monitors.Get(o.Entity)
	if !rt.InFlight || rt.Due != o.Due {
		return Applied{}, false
	}
	rt.InFlight = false
	if !id.Profile.Enabled {
		return Applied{}, false // disabled while the check ran
	}
	w.schedule(o.Entity, rt, nextDue(o.Due, id.Profile.Interval, now.UnixNano()))
	if o.Result.Inconclusive != "" {
		// Says nothing about the target: neither for nor against it.
		return Applied{Name: id.Name, CheckType: id.Profile.CheckType, State: rt.Status.State}, true
	}
	rt.recordCheck(o.Result.OK, o.Duration, now)
	ev := incident.CheckOK
	if !o.Result.OK {
		ev = incident.CheckFailed
		w.reasons[o.Entity] = o.Result.Reason
	}
	w.step(o.Entity, id, rt, ev, o.Result.Reason, now, fx)
	if rt.Status.State == incident.Healthy {
		delete(w.reasons, o.Entity)
	}
	if id.Profile.Metrics {
		w.updateSeries(id, rt)
	}
	return Applied{Name: id.Name, CheckType: id.Profile.CheckType, State: rt.Status.State}, true
}

// HostMonitors counts the enabled monitors whose address is on host and
// returns the notifiers their red codes go to, each once. It walks every
// monitor, so it is for rare events (a host breaker opening).
func (w *World) HostMonitors(host string, hostOf func(address string) string) (n int, targets []code.Notifier) {
	seen := map[code.Notifier]bool{}
	for _, e := range w.byName {
		id, _ := w.monitors.Get(e)
		if !id.Profile.Enabled || hostOf(id.Address) != host {
			continue
		}
		n++
		for _, t := range id.Profile.Codes.Targets(code.Red) {
			if !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
	}
	return n, targets
}

// ApplyRemedy records an intervention's outcome.
func (w *World) ApplyRemedy(o RemedyOutcome, now time.Time, fx *Effects) {
	if !w.ecs.Alive(o.Entity) {
		return
	}
	id, rt := w.monitors.Get(o.Entity)
	rt.RemedyInFlight = false
	ev, reason := incident.RemedyOK, ""
	if o.Err != nil {
		ev, reason = incident.RemedyFailed, o.Err.Error()
	}
	w.step(o.Entity, id, rt, ev, reason, now, fx)
	if id.Profile.Metrics {
		w.updateSeries(id, rt)
	}
}

// step runs the state machine and turns its effects into dispatches and
// remedy jobs.
func (w *World) step(e ecs.Entity, id *Identity, rt *Runtime, ev incident.Event, reason string, now time.Time, fx *Effects) {
	before := rt.Status.State
	out := incident.Step(&rt.Status, id.Profile.Policy, ev, reason, now)
	if after := rt.Status.State; after != before {
		w.counts[before]--
		w.counts[after]++
	}
	for _, em := range out.Emits {
		targets := id.Profile.Codes.Targets(em.Code)
		fx.Codes = append(fx.Codes, Dispatch{
			Notification: code.Notification{
				Time:    now,
				Monitor: id.Name,
				Code:    em.Code,
				State:   rt.Status.State.String(),
				Message: em.Message,
				Groups:  id.Profile.Groups,
				Labels:  w.labels,
			},
			Targets: targets,
		})
	}
	if out.Intervene && id.Profile.Intervention != nil {
		rt.RemedyInFlight = true
		iv := id.Profile.Intervention
		fx.Remedies = append(fx.Remedies, RemedyJob{
			Entity:  e,
			Type:    iv.Type,
			Remedy:  iv.Remedy,
			Address: id.Address,
			Request: intervention.Request{
				Monitor: id.Name,
				State:   before.String(),
				Reason:  reason,
				Groups:  id.Profile.Groups,
			},
		})
	}
}
