package owner

import (
	"fmt"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// TestTriggersRenewAndEvict: a re-sent alert renews its memory (an alert
// that stays firing never asks twice), and a full memory forgets the alert
// heard of least recently instead of refusing new ones.
func TestTriggersRenewAndEvict(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tr := alertTriggers{}
	tr.remember("a", t0)
	for h := range 48 { // re-sent every hour for two days
		if !tr.seen("a", t0.Add(time.Duration(h)*time.Hour)) {
			t.Fatalf("a re-sent alert asked again after %dh", h)
		}
	}
	full := alertTriggers{}
	for i := range maxTriggers {
		full.remember(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Nanosecond))
	}
	full.remember("new", t0.Add(time.Second))
	if len(full) != maxTriggers || !full.seen("new", t0.Add(time.Second)) || full.seen("0", t0.Add(time.Second)) {
		t.Fatalf("a full memory did not make room by forgetting the oldest (size %d)", len(full))
	}
}

// The default route holds at most max_relayed_alerts relayed alerts for a
// receiver: one more is refused and counted (overflow) rather than held
// and re-sent for ever; a resolution still goes, and frees room.
func TestRelayedAlertsAreBounded(t *testing.T) {
	am := newRecordingAM(t)
	o := newTestOwner(t, nil, func(c *config.Agent) { c.AlertmanagerWebhook.MaxRelayedAlerts = 3 })
	now := time.Now()
	applyAt(t, o, fmt.Sprintf(`monitors:
  - name: api
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}
alertmanager_webhook:
  codes:
    red: {notify: alertmanager, config: {url: %q, resend_interval: 1m}}
    green: {notify: alertmanager, config: {url: %q, resend_interval: 1m}}
`, am.url, am.url), now)
	relay := func(name string, c domain.Code, status string) string {
		a := []Alert{{Notification: domain.Notification{Time: now, Monitor: name, Code: c}, Status: status}}
		o.routeAlerts(a, now)
		return a[0].Result
	}
	for i := range 3 {
		if got := relay(fmt.Sprint("disk-", i), domain.Red, "firing"); got != telemetry.AlertDefault {
			t.Fatalf("relayed alert %d: %s, want default", i, got)
		}
	}
	if got := relay("disk-3", domain.Red, "firing"); got != telemetry.AlertOverflow {
		t.Fatalf("a fourth relayed alert over a bound of 3: %s, want overflow", got)
	}
	if got := relay("disk-0", domain.Red, "firing"); got != telemetry.AlertDefault {
		t.Fatalf("a held relayed alert firing again: %s, want default", got)
	}
	if got := relay("disk-0", domain.Green, "resolved"); got != telemetry.AlertDefault {
		t.Fatalf("a held relayed alert resolving: %s, want default", got)
	}
	if got := relay("disk-3", domain.Red, "firing"); got != telemetry.AlertDefault {
		t.Fatalf("after a resolution freed room: %s, want default", got)
	}
	if got := o.codePath.Relayed(); got != 3 {
		t.Errorf("the code path counts %d relayed alerts, want 3", got)
	}
}
