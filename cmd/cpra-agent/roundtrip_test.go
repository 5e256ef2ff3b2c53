package main

// The round trip with the real things (issue #5): Debian's Prometheus
// scrapes the agent and evaluates alerting-rules/; a rule fires into the
// real Alertmanager when its condition is induced; the agent's own codes
// appear in Alertmanager and are resolved; and Alertmanager's webhook
// reaches the agent's inbound receiver, which dispatches the alert.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

func TestRoundTripWithPrometheusAndAlertmanager(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager")
	}
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	svc := newService(t, false)

	// The agent's address is fixed first: Alertmanager's webhook and
	// Prometheus both need it, and the agent needs Alertmanager's.
	agentAddr := freeAddr(t)
	const token = "round-trip-token"
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, 0o600, token)
	am := realserver.StartAlertmanager(t,
		realserver.WithWebhookReceiver("http://"+agentAddr+webhookPath), realserver.WithWebhookBearerToken(token))

	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, fmt.Sprintf("alertmanager_webhook: {bearer_token_file: %q}\n", tokenFile))
	monitors := filepath.Join(dir, "monitors.yaml")
	good := "monitors:\n" + httpMonitor("shop", svc.healthURL(), 2, fmt.Sprintf(`    metrics: true
    codes:
      yellow: {notify: log, config: {file: %q}}
      red:    {notify: alertmanager, config: {url: %q, resend_interval: 1s}}
`, codesFile, am.URL)) + fmt.Sprintf(`alertmanager_webhook:
  codes:
    yellow: {notify: log, config: {file: %q}}
    red:    {notify: log, config: {file: %q}}
`, codesFile, codesFile)
	writeFile(t, monitors, 0o644, good)
	a := startAgent(t, "--web.listen-address="+agentAddr, "--yaml="+monitors, "--config="+agentConfig)

	// The rules as shipped, but without their waiting periods: the test
	// induces conditions for seconds, not minutes.
	rules, err := os.ReadFile(filepath.Join("..", "..", "alerting-rules", "cpra-agent.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "cpra-agent.rules.yml")
	writeFile(t, rulesFile, 0o644, regexp.MustCompile(`(?m)^(\s+for:) .*$`).ReplaceAllString(string(rules), "$1 0s"))
	prom := realserver.StartPrometheus(t, realserver.PrometheusConfig{
		Targets: []string{agentAddr}, RuleFiles: []string{rulesFile}, Alertmanager: am.URL,
	})
	ctx := context.Background()

	waitFor(t, "Prometheus to scrape the agent", func() (bool, string) {
		ts, err := prom.Targets(ctx)
		return err == nil && len(ts) == 1 && ts[0].Health == "up", fmt.Sprint(ts, err)
	})
	waitFor(t, "every rule to evaluate without error", func() (bool, string) {
		rs, err := prom.Rules(ctx)
		if err != nil || len(rs) == 0 {
			return false, fmt.Sprint(rs, err)
		}
		for _, r := range rs {
			if r.Health == "err" {
				t.Fatalf("rule %s: %s", r.Name, r.LastError)
			}
			if r.Health != "ok" {
				return false, r.Name + " not evaluated yet"
			}
		}
		return true, ""
	})
	firing := func() []string {
		rs, _ := prom.Rules(ctx)
		var out []string
		for _, r := range rs {
			if r.State == "firing" {
				out = append(out, r.Name)
			}
		}
		return out
	}
	// Without waiting periods, CPRAAgentAbsent fires until the first scrape.
	waitFor(t, "no alert firing for a healthy, scraped agent", func() (bool, string) {
		f := firing()
		return len(f) == 0, strings.Join(f, ", ")
	})

	// 1. A failed reload fires CPRAReloadFailed into Alertmanager, whose
	// webhook sends it to the agent too.
	writeFile(t, monitors, 0o644, "monitors:\n  - name: broken\n    pulse_check: {type: nope}\n")
	if status, body := a.do(t, http.MethodPost, "/-/reload"); status == http.StatusOK {
		t.Fatalf("a bad monitor file reloaded: %s", body)
	}
	waitFor(t, "CPRAReloadFailed in Alertmanager", func() (bool, string) {
		alerts, err := am.Alerts(ctx)
		for _, al := range alerts {
			if al.Labels["alertname"] == "CPRAReloadFailed" {
				return true, ""
			}
		}
		return false, fmt.Sprint(alerts, err)
	})
	// Alertmanager's webhook brings it back; the agent knows its own rules'
	// alerts and does not dispatch them again (nothing can feed itself).
	a.waitMetrics(t, "the agent to receive its own rule's alert back and ignore it", func(m metrics) []string {
		return m.expect(nil, "cpra_alertmanager_webhook_alerts_total", ">=", 1, "status", "firing", "result", "loop")
	})
	if lines := readCodes(t, codesFile, "CPRAReloadFailed"); len(lines) > 0 {
		t.Errorf("the agent dispatched its own rule's alert: %v", lines)
	}
	writeFile(t, monitors, 0o644, good)
	if status, body := a.do(t, http.MethodPost, "/-/reload"); status != http.StatusOK {
		t.Fatalf("reload of the good file: %d %s", status, body)
	}

	// 2. A failing monitor: its red code is an alert in Alertmanager, and
	// the rule for opted-in monitors fires too; recovery resolves both.
	svc.set(true)
	waitFor(t, "the agent's red alert in Alertmanager", func() (bool, string) {
		alerts, err := am.Alerts(ctx)
		for _, al := range alerts {
			if al.Labels["alertname"] == "CPRAMonitor" && al.Labels["monitor"] == "shop" && al.Labels["code"] == "red" {
				return true, ""
			}
		}
		return false, fmt.Sprint(alerts, err)
	})
	waitFor(t, "CPRAMonitorDown to fire in Prometheus", func() (bool, string) {
		rs, _ := prom.Rules(ctx)
		for _, r := range rs {
			if r.Name == "CPRAMonitorDown" && r.State == "firing" {
				return true, ""
			}
		}
		return false, "not yet"
	})
	svc.set(false)
	waitFor(t, "the red alert to be resolved", func() (bool, string) {
		alerts, err := am.Alerts(ctx)
		now := time.Now()
		for _, al := range alerts {
			if al.Labels["alertname"] == "CPRAMonitor" && al.Labels["monitor"] == "shop" && (al.EndsAt.IsZero() || al.EndsAt.After(now)) {
				return false, fmt.Sprintf("still firing: %+v", al.Labels)
			}
		}
		return err == nil, fmt.Sprint(err)
	})
	waitFor(t, "CPRAMonitorDown and CPRAReloadFailed to stop firing", func() (bool, string) {
		f := firing()
		return len(f) == 0, strings.Join(f, ", ")
	})
	// Every alert that came back was one of the agent's own: counted as a
	// loop, none dispatched, so none could keep itself firing.
	m := a.scrape(t)
	if miss := m.expect(nil, "cpra_alertmanager_webhook_alerts_total", "==", 0, "result", "default"); len(miss) > 0 {
		t.Errorf("own alerts dispatched again: %v", miss)
	}
}
