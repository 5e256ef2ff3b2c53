package codepath

import (
	"maps"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// HostCodeName is the monitor name of a host's code: the monitor label of
// its Alertmanager alert, the monitor field of its log line.
func HostCodeName(host string) string { return "host:" + host }

// HostDown sends the host's red (msg says why and how many monitors sit
// behind it) to notifiers, the receivers of those monitors' red codes,
// and remembers them for HostUp.
func (p *Path) HostDown(host, msg string, notifiers []code.Notifier, now time.Time) {
	p.hostAlarms[host] = notifiers
	p.sendHostCode(host, domain.Red, msg, notifiers, now)
}

// HostUp sends the host's green to where its red went; nothing when no
// red went out.
func (p *Path) HostUp(host string, now time.Time) {
	notifiers, ok := p.hostAlarms[host]
	if !ok {
		return
	}
	delete(p.hostAlarms, host)
	p.sendHostCode(host, domain.Green, "host "+host+" answers again; its monitors are checked again", notifiers, now)
}

func (p *Path) sendHostCode(host string, c domain.Code, msg string, notifiers []code.Notifier, now time.Time) {
	labels := map[string]string{"host": host}
	maps.Copy(labels, p.labels)
	p.Dispatch(world.Dispatch{Notification: domain.Notification{Time: now, Monitor: HostCodeName(host), About: domain.AboutHost,
		Code: c, Message: msg, Labels: labels}, Notifiers: notifiers}, now)
}
