package world

import (
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/incident"
)

// In a cluster every replica holds every monitor of the file and checks
// only those it owns (package cluster). The others are foreign: they stay
// in the timing wheel, keeping their phase, so a monitor this replica
// takes over is checked at its next due time, within one interval; but
// they are not checked, not counted in cpra_monitors, and their state is
// the owner's business.

// foreignSet marks foreign monitors by entity ID.
type foreignSet []uint64

func (f foreignSet) has(e ecs.Entity) bool {
	i := int(e.ID())
	return i/64 < len(f) && f[i/64]&(1<<(i%64)) != 0
}

func (f *foreignSet) set(e ecs.Entity, on bool) {
	i := int(e.ID())
	for len(*f) <= i/64 {
		*f = append(*f, 0)
	}
	if on {
		(*f)[i/64] |= 1 << (i % 64)
	} else {
		(*f)[i/64] &^= 1 << (i % 64)
	}
}

// ForeignEntity reports whether the monitor e belongs to another replica
// now (for jobs handed out before a takeover).
func (w *World) ForeignEntity(e ecs.Entity) bool { return w.ecs.Alive(e) && w.foreign.has(e) }

// remedyNotBefore is when an intervention of e may run: the end of its
// hold when it was taken over recently, otherwise the zero time.
func (w *World) remedyNotBefore(e ecs.Entity, now time.Time) time.Time {
	at, ok := w.gainedAt[e]
	if !ok {
		return time.Time{}
	}
	if until := at.Add(w.remedyHold); until.After(now) {
		return until
	}
	delete(w.gainedAt, e)
	return time.Time{}
}

// Has reports whether the world has a monitor of that name.
func (w *World) Has(name string) bool {
	_, ok := w.lookup(name)
	return ok
}

// Foreign reports whether the named monitor belongs to another replica.
func (w *World) Foreign(name string) bool {
	e, ok := w.lookup(name)
	return ok && w.foreign.has(e)
}

// Owns reports whether this replica handles name: a monitor's, or the key
// of anything else the replicas share out the same way (an alert relayed
// from Alertmanager).
func (w *World) Owns(name string) bool { return w.owns == nil || w.owns(name) }

// Shares counts the monitors each of n members owns by ownerOf (a member
// index, or -1 for none).
func (w *World) Shares(ownerOf func(name string) int, n int) []int {
	out := make([]int, n)
	q := w.all.Query()
	for q.Next() {
		id, _ := q.Get()
		if i := ownerOf(w.name(id)); i >= 0 && i < n {
			out[i]++
		}
	}
	return out
}

// Owned is how many monitors this replica checks.
func (w *World) Owned() int { return w.Len() - w.foreignCount }

// SetOwnership says which monitors this replica checks from now on (nil:
// all of them) and applies it to every monitor: gained ones are checked at
// their next due time; lost ones stop being checked, and their state here
// is forgotten (their new owner carries the incident). A gained monitor's
// interventions wait until it has been this replica's for hold (the
// cluster's failure-detection time), so a replica that lost it without
// knowing yet cannot restart the same thing at the same moment. It
// returns how many monitors were gained and lost, and the names of those
// lost with an incident open here.
func (w *World) SetOwnership(owns func(name string) bool, hold time.Duration, now time.Time) (gained, lost int, lostOpen []string) {
	w.owns, w.remedyHold = owns, hold
	if w.gainedAt == nil {
		w.gainedAt = map[ecs.Entity]time.Time{}
	}
	q := w.all.Query() // storage order: a sequential walk of the columns and the text
	for q.Next() {
		id, rt := q.Get()
		e := q.Entity()
		name := w.name(id)
		mine := owns == nil || owns(name)
		switch was := !w.foreign.has(e); {
		case mine && !was:
			gained++
			w.foreign.set(e, false)
			w.foreignCount--
			w.counts[rt.Status.State]++
			rt.Retry = false
			if hold > 0 {
				w.gainedAt[e] = now
			}
		case !mine && was:
			lost++
			if rt.Status.State.Open() {
				lostOpen = append(lostOpen, name)
			}
			w.counts[rt.Status.State]--
			w.foreign.set(e, true)
			w.foreignCount++
			// Forgotten, not stepped: no code leaves this replica for a
			// monitor it no longer owns.
			keep := rt.Status.State == incident.Maintenance
			rt.Status = incident.Status{}
			if keep {
				rt.Status.State = incident.Maintenance // disabled monitors stay gray everywhere
			}
			rt.forgetCheck()
			rt.RemedyInFlight = false // a waiting intervention is dropped (ForeignEntity)
			delete(w.reasons, e)
			delete(w.gainedAt, e)
			if w.profile(id).Metrics {
				w.updateSeries(e) // its last check goes from this replica's series
			}
		}
	}
	return gained, lost, lostOpen
}

// mine decides a new monitor's ownership as it is added.
func (w *World) mine(e ecs.Entity, name string) bool {
	own := w.owns == nil || w.owns(name)
	w.foreign.set(e, !own)
	if !own {
		w.foreignCount++
	}
	return own
}

// tally moves e from state before to after in cpra_monitors; foreign
// monitors are not counted.
func (w *World) tally(e ecs.Entity, before, after incident.State) {
	if before != after && !w.foreign.has(e) {
		w.counts[before]--
		w.counts[after]++
	}
}
