package incident

import (
	"fmt"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
)

// State is where a monitor is in its incident lifecycle.
type State uint8

// The states. Their names are the values of the `state` label of
// cpra_monitors and of the `state` field of codes.
const (
	Unknown     State = iota // not checked yet
	Healthy                  // passing
	Degraded                 // failing, below the threshold; yellow sent
	Down                     // red sent
	Intervening              // a remedy is in flight
	Verifying                // the remedy succeeded; cyan sent; waiting for successes
	Maintenance              // disabled; gray sent
	NumStates
)

var stateNames = [NumStates]string{"unknown", "healthy", "degraded", "down", "intervening", "verifying", "maintenance"}

// Open reports whether a monitor in state s is in an incident: from its
// first failed check (degraded) until it is healthy again, disabled or
// removed.
func (s State) Open() bool {
	return s == Degraded || s == Down || s == Intervening || s == Verifying
}

func (s State) String() string {
	if s < NumStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Status is the per-monitor incident state. It is a small value kept in the
// world; frequent changes are field writes, never archetype moves.
type Status struct {
	State         State
	Guarded       bool   // restart-loop guard tripped: no interventions until recovery
	Resumed       bool   // enabled after maintenance, not checked since: its first pass says so
	Interventions uint8  // interventions started in the current window
	Fails         uint16 // consecutive failed checks (saturating)
	Successes     uint16 // consecutive successful checks (saturating)
	WindowStart   uint32 // unix seconds when the guard's window began
}

// Policy is what the monitor's configuration says about escalation.
type Policy struct {
	MaxFailures      int  // consecutive failures that make a monitor down
	HealthyThreshold int  // consecutive successes to recover
	CanIntervene     bool // the monitor has an intervention
	MaxPerWindow     int  // restart-loop guard: interventions allowed per window
	Window           time.Duration
}

// Event is what happened to the monitor.
type Event uint8

// The events.
const (
	CheckOK Event = iota + 1
	CheckFailed
	RemedyOK
	RemedyFailed
	Disabled
	Enabled
	Removed
	// AlertFiring is a firing alert about the monitor from outside the
	// agent (Alertmanager's webhook) that asks for its intervention. It
	// escalates as reaching max_failures does, through the restart-loop
	// guard; it never counts as a failed check.
	AlertFiring
)

// Emit is one code to send, with its cause.
type Emit struct {
	Code    domain.Code
	Message string
}

// Change is what a step did to the monitor's incident.
type Change uint8

// The changes. Opened comes before the step's codes, Closed after them.
const (
	NoChange Change = iota
	Opened          // the monitor entered an incident
	Changed         // its state moved within the incident
	Closed          // it recovered, was disabled or was removed
)

var changeNames = [...]string{"unchanged", "opened", "changed", "closed"}

func (c Change) String() string {
	if int(c) < len(changeNames) {
		return changeNames[c]
	}
	return fmt.Sprintf("change(%d)", uint8(c))
}

// Outcome is what a transition asks the agent to do.
type Outcome struct {
	Emits     []Emit // in order
	Intervene bool   // start the monitor's intervention
	Change    Change // to the monitor's incident
}

// Step applies ev to st under p at time now and returns what to do.
// reason is the failure reason of a failed check or remedy.
func Step(st *Status, p Policy, ev Event, reason string, now time.Time) Outcome {
	var fx Outcome
	before := st.State
	switch ev {
	case CheckOK:
		st.Fails = 0
		st.Successes = inc(st.Successes)
		switch st.State {
		case Unknown, Healthy:
			st.State = Healthy
			if st.Resumed {
				// The receivers were told gray: tell them it is over.
				st.Resumed = false
				fx.emit(domain.Green, "maintenance over: the monitor is enabled and its check passes")
			}
		case Degraded, Down, Verifying:
			if int(st.Successes) >= p.HealthyThreshold {
				markRecovered(st)
				fx.emit(domain.Green, fmt.Sprintf("recovered after %d consecutive successful checks", st.Successes))
			}
		}
	case CheckFailed:
		st.Successes = 0
		st.Fails = inc(st.Fails)
		switch st.State {
		case Unknown, Healthy:
			st.State = Degraded
			st.Fails = 1
			st.Resumed = false
			fx.emit(domain.Yellow, "check failed: "+reason)
			if int(st.Fails) >= p.MaxFailures {
				escalate(st, p, reason, now, &fx)
			}
		case Degraded:
			if int(st.Fails) >= p.MaxFailures {
				escalate(st, p, reason, now, &fx)
			}
		case Down:
			// Down keeps retrying the remedy once per threshold of failures
			// until the restart-loop guard says stop.
			if p.CanIntervene && !st.Guarded && int(st.Fails)%p.MaxFailures == 0 {
				escalate(st, p, reason, now, &fx)
			}
		case Verifying:
			st.State = Down
			fx.emit(domain.Red, "check failed while verifying the intervention: "+reason)
		}
	case RemedyOK:
		if st.State == Intervening {
			st.State = Verifying
			st.Fails, st.Successes = 0, 0
			fx.emit(domain.Cyan, fmt.Sprintf("intervention succeeded; verifying with %d consecutive successful checks", p.HealthyThreshold))
		}
	case RemedyFailed:
		if st.State == Intervening {
			st.State = Down
			fx.emit(domain.Red, "intervention failed: "+reason)
		}
	case Disabled:
		if st.State != Maintenance {
			st.State = Maintenance
			st.Fails, st.Successes = 0, 0
			fx.emit(domain.Gray, "monitor disabled: maintenance")
		}
	case Enabled:
		if st.State == Maintenance {
			*st = Status{Resumed: true}
		}
	case Removed:
		switch st.State {
		case Degraded, Down, Intervening, Verifying:
			fx.emit(domain.Gray, "monitor removed from the configuration")
		}
	case AlertFiring:
		switch st.State {
		case Intervening, Maintenance:
			// A remedy is already in flight, or the monitor is disabled.
		default:
			if p.CanIntervene {
				escalate(st, p, reason, now, &fx)
			}
		}
	}
	fx.Change = change(before, st.State, ev)
	return fx
}

// change is what moving from state before to after on ev did to the incident.
func change(before, after State, ev Event) Change {
	switch {
	case before.Open() && (ev == Removed || !after.Open()):
		return Closed
	case ev == Removed:
		return NoChange
	case !before.Open() && after.Open():
		return Opened
	case before.Open() && before != after:
		return Changed
	}
	return NoChange
}

// escalate handles reaching the failure threshold: intervene when the
// monitor can and the guard allows, otherwise red.
func escalate(st *Status, p Policy, reason string, now time.Time, fx *Outcome) {
	if !p.CanIntervene {
		st.State = Down
		fx.emit(domain.Red, fmt.Sprintf("%d consecutive failed checks: %s", st.Fails, reason))
		return
	}
	if st.Guarded {
		st.State = Down
		return
	}
	sec := uint32(now.Unix())
	if p.Window > 0 && int64(sec)-int64(st.WindowStart) >= int64(p.Window/time.Second) {
		st.WindowStart = sec
		st.Interventions = 0
	}
	if int(st.Interventions) >= p.MaxPerWindow {
		st.Guarded = true
		st.State = Down
		fx.emit(domain.Red, fmt.Sprintf("restart-loop guard: %d interventions within %v; no more interventions until the monitor has recovered and the window has passed: %s",
			st.Interventions, p.Window, reason))
		return
	}
	st.Interventions++
	st.State = Intervening
	fx.Intervene = true
}

// markRecovered ends an incident. The guard stops blocking, but the
// interventions of the current window still count: a monitor that keeps
// failing and being repaired (or an alert that keeps firing on a monitor
// whose checks pass) is a restart loop too, and its window expires on its
// own.
func markRecovered(st *Status) {
	st.State = Healthy
	st.Fails = 0
	st.Guarded = false
}

func (fx *Outcome) emit(c domain.Code, msg string) {
	fx.Emits = append(fx.Emits, Emit{Code: c, Message: msg})
}

func inc(v uint16) uint16 {
	if v == ^uint16(0) {
		return v
	}
	return v + 1
}
