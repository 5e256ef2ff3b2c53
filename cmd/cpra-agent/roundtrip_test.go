package main

// The round trip with the real things (issue #5): Debian's Prometheus
// scrapes the agent and evaluates alerting-rules/; a rule fires into the
// real Alertmanager when its condition is induced; the agent's own codes
// appear in Alertmanager and are resolved; and Alertmanager's webhook
// reaches the agent's inbound receiver, which dispatches the alert.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	// The shipped Alertmanager configuration, with its placeholders filled
	// in and its timers shortened as the rules' are below: the agent on
	// loopback, its token file, a local "people" receiver.
	var pagedMu sync.Mutex
	paged := map[string]bool{} // alertnames the people receiver got, firing
	people := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		var p struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		_ = json.NewDecoder(r.Body).Decode(&p)
		pagedMu.Lock()
		defer pagedMu.Unlock()
		for _, a := range p.Alerts {
			if a.Status == "firing" {
				paged[a.Labels["alertname"]] = true
			}
		}
	})
	shipped, err := os.ReadFile(filepath.Join("..", "..", "deploy", "alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	amConfig := strings.NewReplacer(
		"http://cpra-agent:9469", "http://"+agentAddr,
		"/etc/alertmanager/cpra-agent-token", tokenFile,
		"http://pager.example.internal/alertmanager", people.URL,
		"group_wait: 30s", "group_wait: 0s",
		"group_interval: 5m", "group_interval: 1s",
	).Replace(string(shipped))
	am := realserver.StartAlertmanager(t, realserver.WithConfig([]byte(amConfig)))

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

	// 1. A failed reload fires CPRAReloadFailed into Alertmanager.
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
	// The shipped routing pages people with it and never sends it back to
	// the agent: nothing the agent raises can feed itself.
	waitFor(t, "CPRAReloadFailed to page people", func() (bool, string) {
		pagedMu.Lock()
		defer pagedMu.Unlock()
		return paged["CPRAReloadFailed"], fmt.Sprint(paged)
	})
	if m := a.scrape(t); m.expect(nil, "cpra_alertmanager_webhook_requests_total", ">", 0, "result", "accepted") == nil {
		t.Errorf("Alertmanager sent the agent's own rule's alert back to it")
	}
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
	// And nothing starts firing again on its own over three more rule
	// evaluations: no alert sustains itself.
	evaluated := func() time.Time {
		rs, _ := prom.Rules(ctx)
		var last time.Time
		for _, r := range rs {
			if r.LastEvaluation.After(last) {
				last = r.LastEvaluation
			}
		}
		return last
	}
	for range 3 {
		before := evaluated()
		waitFor(t, "another rule evaluation", func() (bool, string) { return evaluated().After(before), "" })
		if f := firing(); len(f) > 0 {
			t.Fatalf("firing again after everything resolved: %s", strings.Join(f, ", "))
		}
	}
	// Every alert that came back was one of the agent's own: counted as a
	// loop, none dispatched, so none could keep itself firing.
	m := a.scrape(t)
	if miss := m.expect(nil, "cpra_alertmanager_webhook_alerts_total", "==", 0, "result", "default"); len(miss) > 0 {
		t.Errorf("own alerts dispatched again: %v", miss)
	}
}
