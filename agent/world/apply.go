package world

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
)

// ApplyStats says what a configuration change did.
type ApplyStats struct {
	Added, Updated, Unchanged, Removed int
}

// Running is the world's monitors as a reload compares them: each one's
// entity and the Source of its definition (config.Monitor.Source), in one order.
type Running struct {
	Entities []ecs.Entity
	Sources  []uint64
}

// Running lists the monitors in effect, for config.ParseChanges.
func (w *World) Running() Running {
	r := Running{Entities: make([]ecs.Entity, 0, w.Len()), Sources: make([]uint64, 0, w.Len())}
	w.names.each(func(e ecs.Entity) {
		id, _ := w.monitors.Get(e)
		r.Entities = append(r.Entities, e)
		r.Sources = append(r.Sources, id.Source)
	})
	return r
}

// Kept is what a reload found of the running monitors: Lines[i] is where
// the file still defines Entities[i] unchanged (config.Monitors.Unchanged),
// or 0 when it changed or is gone.
type Kept struct {
	Entities []ecs.Entity
	Lines    []int32
}

// Conflicts reports the monitors of ms that have the name of a kept one:
// the duplicates that config.ParseChanges cannot see, because it did not
// parse the kept monitors' names. file names the errors.
func (w *World) Conflicts(file string, ms []config.Monitor, kept Kept) error {
	byEntity := map[ecs.Entity]*config.Monitor{}
	for i := range ms {
		if e, ok := w.lookup(ms[i].Name); ok {
			byEntity[e] = &ms[i]
		}
	}
	if len(byEntity) == 0 {
		return nil
	}
	var errs []error
	for i, e := range kept.Entities {
		m, ok := byEntity[e]
		if !ok || kept.Lines[i] == 0 {
			continue
		}
		first, second := int(kept.Lines[i]), m.Line
		if first > second {
			first, second = second, first
		}
		errs = append(errs, &config.Error{File: file, Line: second, Monitor: m.Name, Field: "name",
			Msg: fmt.Sprintf("duplicate monitor name (first defined on line %d)", first)})
	}
	slices.SortFunc(errs, func(a, b error) int { return a.(*config.Error).Line - b.(*config.Error).Line })
	return errors.Join(errs...)
}

// ApplyKept makes the world match ms and kept: new monitors are added,
// removed ones deleted (with gray when an incident was open), changed ones
// updated in place keeping their state, unchanged ones left alone. A
// reload does not parse the kept monitors again: they stay as they are,
// and only those neither in ms nor kept are removed. Call Conflicts first. carried lists the instances of the
// profiles only kept monitors use: the new configuration must adopt them
// (config.Instances.Adopt).
func (w *World) ApplyKept(ms []config.Monitor, in Instances, kept Kept, now time.Time, fx *Effects) (st ApplyStats, carried []config.InstanceKeys) {
	w.version++
	// Monitors move to a fresh profile list; the ones gone from the file
	// keep indexes into the old one until they are removed below.
	old := w.profiles
	next := make([]*Profile, 0, len(old))
	keys := make(map[spec.Key]uint32, len(old))
	seen := make([]bool, 0, len(ms))
	mark := func(e ecs.Entity) {
		id := int(e.ID())
		for len(seen) <= id {
			seen = append(seen, false)
		}
		seen[id] = true
	}
	// Room for the file's monitors; old ones still in the index until the
	// removals below only make put grow it if the file adds many names.
	w.names.reserve(len(ms))
	for i := range ms {
		m := &ms[i]
		pi, ok := keys[m.ProfileKey]
		if !ok {
			pi = uint32(len(next))
			keys[m.ProfileKey] = pi
			next = append(next, newProfile(m, in))
		}
		p := next[pi]
		e, exists := w.lookup(m.Name)
		if !exists {
			mark(w.add(m, pi, p, now))
			st.Added++
			continue
		}
		mark(e)
		id, rt := w.monitors.Get(e)
		before := old[id.profile]
		id.profile = pi // the same definition may have a fresh copy
		if id.Source != 0 && id.Source == m.Source {
			st.Unchanged++
			continue
		}
		st.Updated++
		id.Source = m.Source
		if w.address(id) != m.Pulse.Address {
			w.text.free(int(id.nameLen + id.addrLen))
			id.text, id.addrLen = w.text.add(m.Name, m.Pulse.Address), uint32(len(m.Pulse.Address))
		}
		switch {
		case before.Enabled && !p.Enabled:
			w.step(e, id, p, rt, incident.Disabled, "", now, fx)
			rt.forgetCheck()
		case !before.Enabled && p.Enabled:
			w.step(e, id, p, rt, incident.Enabled, "", now, fx)
			// A check started before the monitor was disabled may still be
			// running; its outcome will not match the new due time and is
			// dropped, so it must not keep the monitor marked busy.
			rt.InFlight = false
			w.schedule(e, rt, firstDue(m.Name, p.Interval, now))
		case p.Enabled && before.Interval != p.Interval && !rt.InFlight:
			w.schedule(e, rt, firstDue(m.Name, p.Interval, now))
		}
	}
	// Kept monitors move to the profile of the same definition, a fresh
	// one when a parsed monitor has it, otherwise their own, carried over.
	for i, line := range kept.Lines {
		e := kept.Entities[i]
		if line == 0 || !w.ecs.Alive(e) {
			continue
		}
		mark(e)
		st.Unchanged++
		id, _ := w.monitors.Get(e)
		before := old[id.profile]
		pi, ok := keys[before.Key]
		if !ok {
			pi = uint32(len(next))
			keys[before.Key] = pi
			next = append(next, before)
			carried = append(carried, before.Instances)
		}
		id.profile = pi
	}
	// Everything not marked is gone from the file.
	var gone []ecs.Entity
	w.names.each(func(e ecs.Entity) {
		if int(e.ID()) >= len(seen) || !seen[e.ID()] {
			gone = append(gone, e)
		}
	})
	for _, e := range gone {
		id, _ := w.monitors.Get(e)
		w.remove(e, old[id.profile], now, fx)
		st.Removed++
	}
	w.profiles = next
	w.names.shrink()
	if w.text.wasteful() {
		w.compactText()
	}
	w.syncSeries(ms, kept)
	return st, carried
}

// intervalIn is the check interval of a monitor in state st: the retry
// interval while an outage or a recovery is being confirmed.
func (p *Profile) intervalIn(st incident.State) time.Duration {
	if (st == incident.Degraded || st == incident.Verifying) && p.RetryInterval > 0 {
		return p.RetryInterval
	}
	return p.Interval
}

// newProfile is m's profile, with the instances its keys name.
func newProfile(m *config.Monitor, in Instances) *Profile {
	p := &Profile{
		Key:           m.ProfileKey,
		Instances:     m.Instances,
		CheckType:     m.Pulse.Type,
		Interval:      m.Pulse.Interval,
		RetryInterval: m.Pulse.RetryInterval,
		Timeout:       m.Pulse.Timeout,
		Prober:        in.Prober(m.Instances.Prober),
		Policy: incident.Policy{
			MaxFailures:      m.Pulse.MaxFailures,
			HealthyThreshold: m.Pulse.HealthyThreshold,
		},
		Routes:  NewRoutes(m.Codes, in),
		Groups:  m.Groups,
		Enabled: m.Enabled,
		Metrics: m.Metrics,
	}
	if iv := m.Intervention; iv != nil {
		p.Remedy = &Remedy{Type: iv.Type, Remedy: in.Remedy(m.Instances.Remedy), OnAlert: iv.OnAlert}
		p.Policy.CanIntervene = true
		p.Policy.MaxPerWindow = iv.MaxPerWindow
		p.Policy.Window = iv.Window
	}
	return p
}

func (w *World) add(m *config.Monitor, pi uint32, p *Profile, now time.Time) ecs.Entity {
	rt := Runtime{}
	if !p.Enabled {
		rt.Status.State = incident.Maintenance
	}
	id := Identity{
		Source:  m.Source,
		text:    w.text.add(m.Name, m.Pulse.Address),
		nameLen: uint32(len(m.Name)),
		addrLen: uint32(len(m.Pulse.Address)),
		profile: pi,
	}
	e := w.monitors.NewEntity(&id, &rt)
	w.names.put(m.Name, e, w.nameOfEntity)
	if w.mine(e, m.Name) {
		w.counts[rt.Status.State]++
	}
	if p.Enabled {
		_, r := w.monitors.Get(e)
		w.schedule(e, r, firstDue(m.Name, p.Interval, now))
	}
	return e
}

// remove deletes a monitor whose profile is p.
func (w *World) remove(e ecs.Entity, p *Profile, now time.Time, fx *Effects) {
	id, rt := w.monitors.Get(e)
	w.step(e, id, p, rt, incident.Removed, "", now, fx)
	if w.foreign.has(e) {
		w.foreign.set(e, false) // the ID may be reused
		w.foreignCount--
	} else {
		w.counts[rt.Status.State]--
	}
	w.names.del(w.name(id), w.nameOfEntity)
	w.text.free(int(id.nameLen + id.addrLen))
	delete(w.reasons, e)
	w.ecs.RemoveEntity(e) // wheel entries for it go stale and are skipped
}

// compactText copies the live monitors' text into a fresh arena. Strings
// already handed out keep the old chunks alive until they are dropped.
func (w *World) compactText() {
	var fresh textArena
	w.names.each(func(e ecs.Entity) {
		id, _ := w.monitors.Get(e)
		id.text = fresh.add(w.name(id), w.address(id))
	})
	w.text = fresh
}

// schedule sets the monitor's next check. Monitors not healthy (their
// checks confirm or clear an incident) and retries go to the urgent wheel.
func (w *World) schedule(e ecs.Entity, rt *Runtime, due int64) {
	rt.Due = due
	if urgent(rt) {
		w.urgent.Add(e, due)
		return
	}
	w.wheel.Add(e, due)
}

func urgent(rt *Runtime) bool {
	switch rt.Status.State {
	case incident.Healthy, incident.Unknown, incident.Maintenance:
		return rt.Retry
	}
	return true
}

// retrySoon is when an inconclusive check is tried again (at the latest
// its interval): the agent could not run it properly, and a monitor whose
// host answers must not go long without a conclusive check.
const retrySoon = time.Second

// Offer hands every due monitor to submit: an Accepted check is in flight;
// a Refused one (the pulse queue is full) stops the walk, and the remaining
// monitors stay due and are offered again on the next call (Offer reports
// whether it stopped early); a Skipped check is not run, and its
// monitor is rescheduled at its next interval with its state unchanged.
// The urgent wheel goes first: when the agent is behind, what confirms or
// clears an incident runs before routine checks, oldest first in each.
func (w *World) Offer(now time.Time, submit func(CheckJob) OfferResult) bool {
	n := now.UnixNano()
	fire := func(en scheduleEntry) bool {
		if !w.ecs.Alive(en.ID) {
			return true // removed: a stale entry
		}
		id, rt := w.monitors.Get(en.ID)
		p := w.profile(id)
		if rt.Due != en.Due || rt.InFlight || !p.Enabled {
			return true // rescheduled or disabled since: a stale entry
		}
		if w.foreign.has(en.ID) {
			// Another replica checks it; it keeps its phase here, ready
			// for a takeover.
			w.schedule(en.ID, rt, nextDue(en.Due, p.Interval, n))
			return true
		}
		switch submit(CheckJob{
			Entity:   en.ID,
			Urgent:   urgent(rt),
			Due:      en.Due,
			Type:     p.CheckType,
			Prober:   p.Prober,
			Target:   w.pulseTarget(id),
			Timeout:  p.Timeout,
			Interval: p.Interval,
		}) {
		case Accepted:
			rt.InFlight = true
		case Skipped:
			rt.Retry = false
			w.schedule(en.ID, rt, nextDue(en.Due, p.Interval, n))
		case Refused:
			return false
		}
		return true
	}
	if w.urgent.Advance(n, fire) {
		return true
	}
	return w.wheel.Advance(n, fire)
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
	p := w.profile(id)
	if !p.Enabled {
		return Applied{}, false // disabled while the check ran
	}
	if w.foreign.has(o.Entity) {
		// Taken over by another replica while the check ran: the outcome
		// is theirs to find; the monitor keeps its phase here.
		w.schedule(o.Entity, rt, nextDue(o.Due, p.Interval, now.UnixNano()))
		return Applied{}, false
	}
	if o.Result.Inconclusive != "" {
		// Says nothing about the target: neither for nor against it. Try
		// again soon, before routine checks.
		rt.Retry = true
		w.schedule(o.Entity, rt, now.Add(min(retrySoon, p.intervalIn(rt.Status.State))).UnixNano())
		return Applied{Name: w.name(id), CheckType: p.CheckType, State: rt.Status.State}, true
	}
	retried := rt.Retry
	rt.Retry = false
	rt.recordCheck(o.Result.OK, o.Duration, now, o.Result.CertExpiry, o.Result.Phases)
	ev := incident.CheckOK
	if !o.Result.OK {
		ev = incident.CheckFailed
		w.reasons[o.Entity] = o.Result.Reason
	}
	w.step(o.Entity, id, p, rt, ev, o.Result.Reason, now, fx)
	// Scheduled after the step: a monitor that just became degraded is
	// checked again at its retry interval. A retry's due time was off the
	// monitor's phase; the next check returns to it.
	if retried {
		w.schedule(o.Entity, rt, firstDue(w.name(id), p.intervalIn(rt.Status.State), now))
	} else {
		w.schedule(o.Entity, rt, nextDue(o.Due, p.intervalIn(rt.Status.State), now.UnixNano()))
	}
	if rt.Status.State == incident.Healthy {
		delete(w.reasons, o.Entity)
	}
	if p.Metrics {
		w.updateSeries(o.Entity)
	}
	return Applied{Name: w.name(id), CheckType: p.CheckType, State: rt.Status.State}, true
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
	p := w.profile(id)
	w.step(o.Entity, id, p, rt, ev, reason, now, fx)
	if p.Metrics {
		w.updateSeries(o.Entity)
	}
}

// step runs the state machine of the monitor e, whose profile is p, and
// turns its effects into dispatches and remedy jobs.
func (w *World) step(e ecs.Entity, id *Identity, p *Profile, rt *Runtime, ev incident.Event, reason string, now time.Time, fx *Effects) {
	before := rt.Status.State
	out := incident.Step(&rt.Status, p.Policy, ev, reason, now)
	w.tally(e, before, rt.Status.State)
	if out.Change != incident.NoChange {
		fx.Changes = append(fx.Changes, IncidentChange{Monitor: w.name(id), Change: out.Change,
			State: rt.Status.State, At: now, Cause: cause(ev, reason)})
	}
	for _, em := range out.Emits {
		notifiers := p.Routes.Notifiers(em.Code)
		fx.Codes = append(fx.Codes, Dispatch{
			Notification: domain.Notification{
				Time:    now,
				Monitor: w.name(id),
				Code:    em.Code,
				State:   rt.Status.State.String(),
				Message: em.Message,
				Groups:  p.Groups,
				Labels:  w.labels,
			},
			Notifiers: notifiers,
		})
	}
	if out.Intervene && p.Remedy != nil {
		rt.RemedyInFlight = true
		iv := p.Remedy
		fx.Remedies = append(fx.Remedies, RemedyJob{
			Entity:    e,
			NotBefore: w.remedyNotBefore(e, now),
			Type:      iv.Type,
			Remedy:    iv.Remedy,
			Address:   w.address(id),
			Request: intervention.Request{
				Monitor: w.name(id),
				State:   before.String(),
				Reason:  reason,
				Groups:  p.Groups,
			},
		})
	}
}

// cause says why a step changed an incident, for its log line and trace.
func cause(ev incident.Event, reason string) string {
	switch ev {
	case incident.CheckOK:
		return "recovered"
	case incident.Disabled:
		return "disabled"
	case incident.Removed:
		return "removed"
	case incident.RemedyOK:
		return "intervention succeeded"
	}
	return reason
}
