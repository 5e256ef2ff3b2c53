package world

import (
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/incident"
)

// Monitor is one monitor as Each shows it.
type Monitor struct {
	w       *World
	id      *Identity
	Status  incident.Status
	Enabled bool
}

// Name is the monitor's name. Each leaves it to be asked for: reading it
// costs more than the rest of the walk.
func (m Monitor) Name() string { return m.w.name(m.id) }

// Each calls f for every monitor, in storage order: a sequential walk of
// the ECS columns, for the state directory's snapshot.
func (w *World) Each(f func(Monitor)) {
	q := w.all.Query()
	for q.Next() {
		id, rt := q.Get()
		f(Monitor{w: w, id: id, Status: rt.Status, Enabled: w.profiles[id.profile].Enabled})
	}
}

// Version counts the configurations applied: what Each reports of names
// and enablement changes only when it does.
func (w *World) Version() uint64 { return w.version }

// Restore gives the named monitor the status it had before a restart and
// reports whether there is such a monitor. An incident carries on where
// it was (no second yellow or red), except that one passing check ends it:
// nobody knows how long the target has been up while the agent was away.
// A monitor disabled since gets its gray now; one enabled since starts
// afresh.
func (w *World) Restore(name string, st incident.Status, now time.Time, fx *Effects) bool {
	e, ok := w.lookup(name)
	if !ok {
		return false
	}
	if w.foreign.has(e) {
		return true // another replica's now: its state is that replica's
	}
	id, rt := w.monitors.Get(e)
	p := w.profile(id)
	if p.Enabled && st.State == incident.Maintenance {
		return true // enabled while the agent was away: checked afresh
	}
	if st.State.Open() {
		st.Successes = uint16(max(p.Policy.HealthyThreshold-1, 0))
	}
	w.setStatus(e, rt, st)
	if !p.Enabled {
		w.step(e, id, p, rt, incident.Disabled, "", now, fx)
	}
	if p.Metrics {
		w.updateSeries(e)
	}
	return true
}

// RestoreDisabled sends the gray of a monitor that was enabled before a
// restart and is disabled now: it was added in maintenance, and its
// receivers never heard of it.
func (w *World) RestoreDisabled(name string, now time.Time, fx *Effects) {
	e, ok := w.lookup(name)
	if !ok {
		return
	}
	id, rt := w.monitors.Get(e)
	p := w.profile(id)
	if p.Enabled || rt.Status.State != incident.Maintenance {
		return
	}
	w.setStatus(e, rt, incident.Status{State: incident.Healthy})
	w.step(e, id, p, rt, incident.Disabled, "", now, fx)
}

// setStatus replaces a monitor's status, keeping the state counts.
func (w *World) setStatus(e ecs.Entity, rt *Runtime, st incident.Status) {
	w.tally(e, rt.Status.State, st.State)
	rt.Status = st
}
