package codepath

import (
	"time"

	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// relay is the default route of alerts relayed from Alertmanager: the
// monitor file's alertmanager_webhook.codes, and the bound on the relayed
// alerts whose firing codes the path holds.
type relay struct {
	routes      world.Routes
	max         int
	overflowed  int // refused since the last log line
	lastOverlog time.Time
}

// SetRelayRoutes sets the default route (after a load or reload).
func (p *Path) SetRelayRoutes(r world.Routes) { p.relay.routes = r }

// Relay dispatches an alert that is about no monitor of this agent on the
// default route, as an alert of its own (domain.AboutAlert) whatever its
// name, and returns its telemetry.Alert* result: default, suppressed
// (`dispatch: false`), unrouted (no route for its colour), or overflow (a
// new firing alert past the bound; counted and logged once a minute).
func (p *Path) Relay(n domain.Notification, now time.Time) string {
	n.About = domain.AboutAlert
	if n.Code.Firing() && p.relayed >= p.relay.max && !p.holds(n.Subject()) {
		p.relayOverflow(now)
		return telemetry.AlertOverflow
	}
	if notifiers := p.relay.routes.Notifiers(n.Code); len(notifiers) > 0 {
		p.Dispatch(world.Dispatch{Notification: n, Notifiers: notifiers}, now)
		return telemetry.AlertDefault
	}
	if p.relay.routes[n.Code].Configured {
		return telemetry.AlertSuppressed
	}
	return telemetry.AlertUnrouted
}

// relayOverflow logs, at most once a minute, that the default route holds
// as many relayed alerts as it may.
func (p *Path) relayOverflow(now time.Time) {
	p.relay.overflowed++
	if now.Sub(p.relay.lastOverlog) < time.Minute {
		return
	}
	p.log.Warn("relayed alert not dispatched: the default route already holds alertmanager_webhook.max_relayed_alerts alerts",
		"max_relayed_alerts", p.relay.max, "refused_since_last_log", p.relay.overflowed)
	p.relay.lastOverlog, p.relay.overflowed = now, 0
}
