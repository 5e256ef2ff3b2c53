package world

import (
	"time"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/internal/domain"
)

// AlertRoute says where an alert about a monitor, received from outside
// the agent, went.
type AlertRoute uint8

// The routes of ApplyAlert.
const (
	AlertNoMonitor  AlertRoute = iota // no monitor of that name: the caller routes it
	AlertRouted                       // to the monitor's notifiers for the colour
	AlertNoNotifier                   // the monitor has no notifiers: the caller routes it
	AlertSuppressed                   // the monitor's `dispatch: false` silences the colour
)

// AlertOutcome is what ApplyAlert did.
type AlertOutcome struct {
	Route AlertRoute
	// OptedIn says the alert asked for an intervention and the monitor's
	// intervention accepts alerts (`on_alert: true`), whether or not the
	// state machine started one.
	OptedIn bool
	// Intervened says the state machine started the intervention.
	Intervened bool
}

// ApplyAlert handles an alert about the monitor n.Monitor that came from
// outside the agent (Alertmanager's webhook). The code n goes to the
// monitor's notifiers for its colour, with the monitor's groups. When
// intervene is set and the monitor's intervention opted in, the incident
// state machine is asked for that intervention (incident.AlertFiring), so
// the restart-loop guard applies; reason is passed to the remedy. The
// monitor's incident state is otherwise unchanged: an alert is not a check.
func (w *World) ApplyAlert(n domain.Notification, intervene bool, reason string, now time.Time, fx *Effects) AlertOutcome {
	e, ok := w.lookup(n.Monitor)
	if !ok {
		return AlertOutcome{Route: AlertNoMonitor}
	}
	id, rt := w.monitors.Get(e)
	p := w.profile(id)
	var out AlertOutcome
	var code int // the index of n in fx.Codes: its State is the monitor's after the alert
	n.Groups = p.Groups
	switch notifiers := p.Routes.Notifiers(n.Code); {
	case len(notifiers) > 0:
		out.Route = AlertRouted
		code = len(fx.Codes)
		fx.Codes = append(fx.Codes, Dispatch{Notification: n, Notifiers: notifiers})
		defer func() { fx.Codes[code].Notification.State = rt.Status.State.String() }()
	case p.Routes[n.Code].Configured:
		out.Route = AlertSuppressed
	default:
		out.Route = AlertNoNotifier
	}
	if !intervene || p.Remedy == nil || !p.Remedy.OnAlert {
		return out
	}
	out.OptedIn = true
	if !p.Enabled || rt.RemedyInFlight {
		return out
	}
	remedies := len(fx.Remedies)
	w.step(e, id, p, rt, incident.AlertFiring, reason, now, fx)
	out.Intervened = len(fx.Remedies) > remedies
	if p.Metrics {
		w.updateSeries(e)
	}
	return out
}
