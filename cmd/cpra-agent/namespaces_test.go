package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// Codes about monitors and relayed alerts never collide, whatever the names
// (issue #22, item 2): an alert named "api" that reaches the agent's webhook
// without a cpra_monitor label, and goes to the same Alertmanager through
// the webhook's default route, fires and resolves as an alert of its own;
// the monitor api's red stays firing in Alertmanager throughout.
func TestRelayedAlertNeverTouchesAMonitor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	am := realserver.StartAlertmanager(t)
	const token = "namespaces-token"
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, 0o600, token)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, fmt.Sprintf("alertmanager_webhook: {bearer_token_file: %q}\n", tokenFile))
	toAM := fmt.Sprintf("{notify: alertmanager, config: {url: %q, resend_interval: 1h}}", am.URL)
	monitors := filepath.Join(dir, "monitors.yaml")
	writeFile(t, monitors, 0o644, "monitors:\n"+
		httpMonitor("api", newService(t, true).healthURL(), 1, "    codes:\n      red: "+toAM+"\n")+
		"alertmanager_webhook:\n  codes:\n    red: "+toAM+"\n    green: "+toAM+"\n")
	a := startAgent(t, "--config="+agentConfig, "--yaml="+monitors)

	// alerts is what Alertmanager holds for "api": "monitor" for the
	// monitor's alert, the cpra_subject label for others.
	alerts := func() map[string]string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		held, err := am.Alerts(ctx)
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, x := range held {
			if x.Labels["alertname"] == "CPRAMonitor" && x.Labels["monitor"] == "api" {
				out[cmp.Or(x.Labels["cpra_subject"], "monitor")] = x.Labels["code"]
			}
		}
		return out
	}
	waitFor(t, "the monitor api's red in Alertmanager", func() (bool, string) {
		got := alerts()
		return got["monitor"] == "red", fmt.Sprint(got)
	})

	relay := func(status string) {
		t.Helper()
		body := fmt.Sprintf(`{"version":"4","status":%q,"alerts":[{"status":%q,"labels":{"alertname":"api","severity":"critical"},"startsAt":"2026-01-02T03:04:05Z"}]}`,
			status, status)
		req, err := http.NewRequest(http.MethodPost, "http://"+a.addr+webhookPath, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook: %s", resp.Status)
		}
	}
	relay("firing")
	waitFor(t, "the relayed alert api beside the monitor api", func() (bool, string) {
		got := alerts()
		return got["monitor"] == "red" && got["alert"] == "red", fmt.Sprint(got)
	})
	relay("resolved")
	waitFor(t, "the relayed alert api resolved", func() (bool, string) {
		got := alerts()
		_, relayed := got["alert"]
		return !relayed, fmt.Sprint(got)
	})
	if got := alerts(); got["monitor"] != "red" {
		t.Fatalf("after the relayed alert api resolved, Alertmanager holds %v for api; want the monitor's red still firing", got)
	}
	if status, body := a.get("/probe?monitor=api"); status != http.StatusOK || !strings.Contains(body, "probe_success 0") {
		t.Errorf("/probe?monitor=api: %d %q, want the monitor still down", status, body)
	}
}
