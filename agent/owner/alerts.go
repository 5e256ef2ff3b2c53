package owner

import (
	"maps"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

const (
	// triggerTTL is how long an alert that asked for an intervention is
	// remembered, so that Alertmanager re-sending it (a group change, the
	// repeat interval) does not intervene again; a resolved alert is
	// forgotten at once.
	triggerTTL  = 24 * time.Hour
	maxTriggers = 65536
)

// Alert is one validated alert from Alertmanager, ready for the owner.
type Alert struct {
	Notification domain.Notification // Monitor, Code, State (firing or resolved), Message, Labels
	Status       string              // firing or resolved
	Named        bool                // has a cpra_monitor label: Notification.Monitor is its value
	Loop         bool                // one of the agent's own alerts, sent back
	Intervene    bool                // firing and red: may start the monitor's intervention
	Key          string              // monitor, fingerprint and start: one alert instance

	// Set by RouteAlerts: a telemetry.Alert* result, and whether the alert
	// started the monitor's intervention.
	Result     string
	Intervened bool
}

// routeAlerts dispatches alerts and records each one's result.
func (o *Owner) routeAlerts(alerts []Alert, now time.Time) {
	for i := range alerts {
		alerts[i].Result = o.routeAlert(&alerts[i], now)
	}
	o.flushEffects()
}

// routeAlert: an alert naming a monitor of this shard goes to that
// monitor's notifiers (and may start its intervention, once per alert);
// others go to the monitor file's alertmanager_webhook.codes, or are
// unrouted.
func (o *Owner) routeAlert(in *Alert, now time.Time) string {
	if in.Loop {
		return telemetry.AlertLoop
	}
	// Every replica receives every alert; one handles each. In a cluster:
	// the owner of the named monitor, or of the alert's name.
	if !o.world.Owns(in.Notification.Monitor) {
		return telemetry.AlertOtherShard
	}
	// With static shards: the shard of the named monitor, shard 0 for
	// alerts without one.
	if shard := o.cfg.Shard; shard.Count > 1 {
		mine := shard.Index == 0
		if in.Named {
			mine = shard.Owns(in.Notification.Monitor)
		}
		if !mine {
			return telemetry.AlertOtherShard
		}
	}
	n := in.Notification
	if in.Named {
		ask := in.Intervene && !o.triggers.seen(in.Key, now)
		out := o.world.ApplyAlert(n, ask, n.Message, now, &o.fx)
		in.Intervened = out.Intervened
		switch {
		case out.OptedIn:
			o.triggers.remember(in.Key, now)
		case in.Status == "resolved":
			o.triggers.forget(in.Key)
		}
		switch out.Route {
		case world.AlertRouted:
			return telemetry.AlertMonitor
		case world.AlertSuppressed:
			return telemetry.AlertSuppressed
		}
		// Not a monitor of this agent, or one that sends codes nowhere.
	}
	// Relayed: an alert of its own, apart from every monitor, whatever
	// its name.
	return o.codePath.Relay(n, now)
}

// alertTriggers remembers the alerts that asked for an intervention, so
// that each alert (its monitor, fingerprint and start) asks once.
type alertTriggers map[string]time.Time

// seen reports whether the alert already asked; a re-send of a remembered
// alert renews it, so an alert that stays firing never asks twice.
func (t alertTriggers) seen(key string, now time.Time) bool {
	at, ok := t[key]
	if ok && now.Sub(at) < triggerTTL {
		t[key] = now
		return true
	}
	return false
}

func (t alertTriggers) remember(key string, now time.Time) {
	if _, ok := t[key]; !ok && len(t) >= maxTriggers {
		maps.DeleteFunc(t, func(_ string, at time.Time) bool { return now.Sub(at) >= triggerTTL })
		if len(t) >= maxTriggers {
			// Still full: make room by forgetting the alert heard of least
			// recently (the restart-loop guard bounds what that can cost).
			oldest, first := "", true
			for k, at := range t {
				if first || at.Before(t[oldest]) {
					oldest, first = k, false
				}
			}
			delete(t, oldest)
		}
	}
	t[key] = now
}

func (t alertTriggers) forget(key string) { delete(t, key) }
