package alertmanagernotify

import (
	"context"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/realserver"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
)

// activeFor returns the alerts Alertmanager holds for monitor.
func activeFor(t *testing.T, am *realserver.Alertmanager, monitor string) []realserver.AlertState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []realserver.AlertState
	for _, a := range all {
		if a.Labels["monitor"] == monitor {
			out = append(out, a)
		}
	}
	return out
}

func TestRealAlertmanager(t *testing.T) {
	am := realserver.StartAlertmanager(t)
	n := newNotifier(t, "url: "+am.URL+"\nresend_interval: 200ms\nlabels: {env: test}\n")
	start := time.Now().UTC().Truncate(time.Millisecond)

	// Yellow, then red replaces it.
	notify(t, n, domain.Notification{Time: start, Monitor: "api", Code: domain.Yellow, State: "degraded",
		Message: "1 failure", Groups: []string{"web", "edge"}, Labels: map[string]string{"shard": "0"}})
	red := domain.Notification{Time: start.Add(time.Millisecond), Monitor: "api", Code: domain.Red,
		State: "down", Message: "3 consecutive failures: status 503", Groups: []string{"web", "edge"},
		Labels: map[string]string{"shard": "0"}, Replaces: domain.Fired{Code: domain.Yellow, At: start}}
	notify(t, n, red)

	var got []realserver.AlertState
	waitFor(t, "only the red alert to be active", func() bool {
		got = activeFor(t, am, "api")
		return len(got) == 1 && got[0].Labels["code"] == "red"
	})
	a := got[0]
	for k, want := range map[string]string{
		"alertname": "CPRAMonitor", "monitor": "api", "code": "red", "severity": "critical",
		"groups": "edge,web", "env": "test", "shard": "0",
	} {
		if a.Labels[k] != want {
			t.Errorf("label %s = %q, want %q (all: %v)", k, a.Labels[k], want, a.Labels)
		}
	}
	if a.Annotations["summary"] != "api is down" || a.Annotations["description"] != "3 consecutive failures: status 503" {
		t.Errorf("annotations %v", a.Annotations)
	}
	if a.Status.State != "active" || !a.StartsAt.Equal(start.Add(time.Millisecond)) {
		t.Errorf("state %q startsAt %v, want active from %v", a.Status.State, a.StartsAt, start)
	}

	// A resend pushes endsAt forward...
	firstEnd := a.EndsAt
	time.Sleep(10 * time.Millisecond) // so the new endsAt is later by the wall clock
	red.Resend, red.Replaces = true, domain.Fired{Code: domain.Red, At: red.Time}
	notify(t, n, red)
	waitFor(t, "the resend to push endsAt forward", func() bool {
		got = activeFor(t, am, "api")
		return len(got) == 1 && got[0].EndsAt.After(firstEnd)
	})

	// ...and green resolves it.
	notify(t, n, domain.Notification{Time: time.Now(), Monitor: "api", Code: domain.Green, State: "healthy",
		Replaces: domain.Fired{Code: domain.Red, At: red.Time}})
	waitFor(t, "the alert to be resolved", func() bool {
		return len(activeFor(t, am, "api")) == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}
