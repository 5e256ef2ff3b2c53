package world

import (
	"slices"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Instances gives the live instance a configuration key names
// (config.Instances, once built).
type Instances interface {
	Prober(spec.Key) pulse.Prober
	Remedy(spec.Key) intervention.Remedy
	Notifier(spec.Key) code.Notifier
}

// Remedy is a profile's intervention: what runs, and whether a firing
// alert about the monitor may start it. The restart-loop guard's limits
// are in the profile's incident.Policy.
type Remedy struct {
	Type   string
	Remedy intervention.Remedy
	// OnAlert: a firing critical alert received on the Alertmanager
	// webhook may start it (`on_alert: true`).
	OnAlert bool
}

// Route is where one colour goes.
type Route struct {
	Configured bool // the colour has its own entry in `codes:`
	Dispatch   bool
	Notifier   code.Notifier // nil: none
}

// Routes route each colour, indexed by domain.Code.
type Routes [domain.Gray + 1]Route

// NewRoutes resolves a `codes:` section's notifiers.
func NewRoutes(c config.Codes, in Instances) Routes {
	var out Routes
	for i, r := range c {
		out[i] = Route{Configured: r.Configured, Dispatch: r.Dispatch}
		if r.Notifier != (spec.Key{}) {
			out[i].Notifier = in.Notifier(r.Notifier)
		}
	}
	return out
}

// Notifiers returns the notifiers a code goes to: its own entry when the
// colour is configured, otherwise every notifier configured for the
// monitor's other colours, so a recovery or maintenance code reaches the
// receivers that heard about the incident. `dispatch: false` sends nothing,
// and a colour sent nowhere is no fallback for the others: its notifier
// never heard about the incident.
func (r *Routes) Notifiers(k domain.Code) []code.Notifier {
	own := r[k]
	if own.Configured {
		if !own.Dispatch || own.Notifier == nil {
			return nil
		}
		return []code.Notifier{own.Notifier}
	}
	var out []code.Notifier
	for _, other := range domain.All {
		o := r[other]
		if o.Configured && o.Dispatch && o.Notifier != nil && !slices.Contains(out, o.Notifier) {
			out = append(out, o.Notifier)
		}
	}
	return out
}
