package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// ---------------------------------------------------------------------------
// The inbound Alertmanager webhook: the real Alertmanager routes alerts to
// the agent, which dispatches them as codes and runs an opted-in monitor's
// intervention.

const webhookPath = "/api/v1/alertmanager/webhook"

func TestAlertmanagerWebhook(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	svc := newService(t, false)

	var mu sync.Mutex
	var repairs []string // request bodies
	remedy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		repairs = append(repairs, string(body))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	repairCalls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(repairs)
	}

	const token = "e2e-webhook-token"
	tokenFile := filepath.Join(dir, "am-token")
	writeFile(t, tokenFile, 0o600, token+"\n")
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, fmt.Sprintf("alertmanager_webhook: {bearer_token_file: %q}\n", tokenFile))
	monitors := filepath.Join(dir, "monitors.yaml")
	writeFile(t, monitors, 0o644, "monitors:\n"+
		httpMonitor("checkout", svc.healthURL(), 2, fmt.Sprintf(`    intervention:
      type: webhook
      on_alert: true
      max_per_window: 2
      window: 1h
      config: {url: %q, timeout: 40s}
`, remedy.URL+"/repair"), logCodes(codesFile))+
		fmt.Sprintf("alertmanager_webhook:\n  codes:\n    red: {notify: log, config: {file: %q}}\n", codesFile))
	a := startAgent(t, "--config="+agentConfig, "--yaml="+monitors)
	a.waitSettled(t, codesFile, "checkout")
	mark := len(readCodes(t, codesFile, "checkout"))

	// Alertmanager routes every alert, each in its own group, to the agent
	// with the token (skipped, saying why, when it is not installed).
	am := realserver.StartAlertmanager(t, realserver.WithWebhookReceiver("http://"+a.addr+webhookPath),
		realserver.WithWebhookBearerToken(token))
	startsAt := time.Now().UTC()
	slow := amAlert{
		Labels:      map[string]string{"alertname": "CheckoutSlow", "cpra_monitor": "checkout", "severity": "critical", "team": "shop"},
		Annotations: map[string]string{"summary": "p99 above 2s"},
		StartsAt:    startsAt,
	}
	disk := amAlert{
		Labels:      map[string]string{"alertname": "DiskFull", "severity": "critical", "instance": "db-1"},
		Annotations: map[string]string{"description": "/var is 97% full"},
		StartsAt:    startsAt,
	}
	postAlerts(t, am, slow, disk)

	waitFor(t, "the alert's red, the intervention's cyan and the monitor's green for checkout", func() (bool, string) {
		got := readCodes(t, codesFile, "checkout")[mark:]
		return inOrder(got, "red:CheckoutSlow firing in Alertmanager: p99 above 2s", "cyan:intervention succeeded", "green:recovered"),
			"codes for checkout so far:\n" + dump(got)
	})
	waitFor(t, "DiskFull on the default route", func() (bool, string) {
		got := readCodes(t, codesFile, "DiskFull")
		return inOrder(got, "red:DiskFull firing in Alertmanager: /var is 97% full"), "codes for DiskFull so far:\n" + dump(got)
	})
	if got := repairCalls(); len(got) != 1 || !strings.Contains(got[0], `"reason":"CheckoutSlow firing in Alertmanager: p99 above 2s"`) ||
		!strings.Contains(got[0], `"monitor":"checkout"`) {
		t.Errorf("remedy requests %q, want one for checkout with the alert as its reason", got)
	}
	for _, l := range readCodes(t, codesFile, "checkout")[mark:] {
		// The code carries the monitor's state, which the alert moved.
		if l.Code == "red" && l.State != "intervening" {
			t.Errorf("the alert's code has state %q, want intervening: %+v", l.State, l)
		}
	}

	// Resolved in Alertmanager: green from the webhook, and still only
	// the one intervention.
	slow.EndsAt = time.Now().UTC()
	postAlerts(t, am, slow)
	waitFor(t, "the resolved alert's green for checkout", func() (bool, string) {
		got := readCodes(t, codesFile, "checkout")[mark:]
		return inOrder(got, "red:CheckoutSlow firing", "cyan:", "green:CheckoutSlow resolved in Alertmanager"),
			"codes for checkout so far:\n" + dump(got)
	})
	a.waitMetrics(t, "the webhook's metrics", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_alertmanager_webhook_requests_total", ">=", 2, "result", "accepted")
		miss = m.expect(miss, "cpra_alertmanager_webhook_alerts_total", ">=", 1, "status", "firing", "result", "monitor")
		miss = m.expect(miss, "cpra_alertmanager_webhook_alerts_total", ">=", 1, "status", "firing", "result", "default")
		miss = m.expect(miss, "cpra_alertmanager_webhook_alerts_total", ">=", 1, "status", "resolved", "result", "monitor")
		miss = m.expect(miss, "cpra_alertmanager_webhook_alerts_total", "==", 0, "result", "unrouted")
		miss = m.expect(miss, "cpra_interventions_total", "==", 1, "type", "webhook", "result", "success")
		return miss
	})
	if got := repairCalls(); len(got) != 1 {
		t.Errorf("the remedy was called %d times, want once", len(got))
	}

	t.Run("refused over HTTP", func(t *testing.T) {
		valid := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"X"},"startsAt":"2026-01-02T03:04:05Z"}]}`
		tests := []struct {
			name, auth, body string
			status           int
			inBody           string
		}{
			{"no token", "", valid, http.StatusUnauthorized, "unauthorized"},
			{"wrong token", "Bearer not-" + token, valid, http.StatusUnauthorized, "unauthorized"},
			{"malformed JSON", "Bearer " + token, `{"version":"4","alerts":[{`, http.StatusBadRequest, "malformed JSON"},
			{"wrong version", "Bearer " + token, strings.Replace(valid, `"4"`, `"3"`, 1), http.StatusBadRequest, `version: "3" is not supported, want "4"`},
			{"bad timestamp", "Bearer " + token, strings.Replace(valid, "2026-01-02T03:04:05Z", "soon", 1), http.StatusBadRequest, `alerts[0].startsAt: "soon" is not an RFC 3339 time`},
			{"no alerts", "Bearer " + token, `{"version":"4"}`, http.StatusBadRequest, "alerts: missing"},
			{"too large", "Bearer " + token, valid + strings.Repeat(" ", 2<<20), http.StatusRequestEntityTooLarge, "larger than 1048576 bytes"},
		}
		for _, tt := range tests {
			req, err := http.NewRequest(http.MethodPost, "http://"+a.addr+webhookPath, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.inBody) {
				t.Errorf("%s: %d %q, want %d containing %q", tt.name, resp.StatusCode, body, tt.status, tt.inBody)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Bearer realm="cpra-agent"` {
				t.Errorf("%s: WWW-Authenticate %q", tt.name, resp.Header.Get("WWW-Authenticate"))
			}
		}
		m := a.scrape(t)
		var miss []string
		miss = m.expect(miss, "cpra_alertmanager_webhook_requests_total", "==", 2, "result", "unauthorized")
		miss = m.expect(miss, "cpra_alertmanager_webhook_requests_total", "==", 4, "result", "bad_request")
		miss = m.expect(miss, "cpra_alertmanager_webhook_requests_total", "==", 1, "result", "too_large")
		miss = m.expect(miss, "cpra_alertmanager_webhook_alerts_total", "==", 2, "status", "firing", "result", "rejected")
		for _, s := range miss {
			t.Error(s)
		}
		if e := a.logEntries("Alertmanager webhook request refused: invalid payload"); len(e) != 4 {
			t.Errorf("%d refused payloads logged, want 4", len(e))
		}
		if strings.Contains(a.stderr.String(), token) {
			t.Error("the bearer token is in the agent's log")
		}
	})
}

// inOrder reports whether lines contain, in this order, codes matching
// each "colour:message substring".
func inOrder(lines []codeLine, want ...string) bool {
	i := 0
	for _, l := range lines {
		if i == len(want) {
			break
		}
		c, msg, _ := strings.Cut(want[i], ":")
		if l.Code == c && strings.Contains(l.Message, msg) {
			i++
		}
	}
	return i == len(want)
}

// amAlert is an alert as POST /api/v2/alerts takes it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

// postAlerts posts alerts to Alertmanager's API, as Prometheus does.
func postAlerts(t *testing.T, am *realserver.Alertmanager, alerts ...amAlert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post alerts to Alertmanager: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("post alerts to Alertmanager: %s %q", resp.Status, msg)
	}
}
