package amwebhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/owner"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// The webhook as the agent runs it: a real owner behind the handler,
// with real monitors and notifiers. Decoding alone is in amwebhook_test.go.

const webhookPath = "/api/v1/alertmanager/webhook"

// lockedBuffer collects what the log notifier writes to "standard output".
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// codes returns the JSON lines written so far.
func (l *lockedBuffer) codes(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(text) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log notifier line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testAgent is the webhook of a running owner that applied monitors.
type testAgent struct {
	o     *owner.Owner
	m     *telemetry.Metrics
	ready atomic.Bool
}

func (a *testAgent) Lookup(ctx context.Context, name string) (world.View, bool, error) {
	return a.o.Lookup(ctx, name)
}

// newTestAgent runs an owner on monitors and returns it with the webhook's
// handler and what its `log` notifiers with `file: ""` wrote.
func newTestAgent(t *testing.T, cfg config.Agent, monitors string) (*testAgent, http.Handler, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	a := &testAgent{m: telemetry.NewMetrics()}
	log := slog.New(slog.DiscardHandler)
	cfg.Storage.Path = t.TempDir()
	o, err := owner.New(cfg, a.m, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a.o = o
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(), kind.Deps{Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := config.ParseMonitors("monitors.yaml", []byte(monitors), kinds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Instances.Build(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = ms.Instances.CloseUnused(context.Background(), nil)
	})
	ms.Monitors = cfg.Shard.Keep(ms.Monitors)
	if _, _, err := o.Apply(ctx, ms, world.Kept{}); err != nil {
		t.Fatal(err)
	}
	a.ready.Store(true)
	h := New(Options{Config: cfg, Router: o, Ready: a.ready.Load, Metrics: a.m.AlertmanagerWebhook, Log: log})
	return a, h, out
}

// post sends body to the webhook with the headers ("Name: value").
func post(h http.Handler, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, webhookPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ": ")
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func requests(a *testAgent, result string) float64 {
	return testutil.ToFloat64(a.m.AlertmanagerWebhook.Requests.WithLabelValues(result))
}

func alertsCounted(a *testAgent, status, result string) float64 {
	return testutil.ToFloat64(a.m.AlertmanagerWebhook.Alerts.WithLabelValues(status, result))
}

func TestWebhookAuth(t *testing.T) {
	body := payload(firing("alertname", "A"))
	tokenFile := writeTemp(t, "token", "s3cret\n")
	withToken := config.DefaultAgent()
	withToken.AlertmanagerWebhook.BearerTokenFile = tokenFile
	withBasic := config.DefaultAgent()
	withBasic.Web.ConfigFile = writeTemp(t, "web.yml", "basic_auth_users:\n  alertmanager: $2y$10$abcdefghijklmnopqrstuu5Ug3YOY3MtJfH4mXzBqHSHe8rvC5pCe\n")
	disabled := config.DefaultAgent()
	disabled.Web.ConfigFile = writeTemp(t, "web.yml", "http_server_config: {http2: true}\n")

	verified := func(r *http.Request) { r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}} }
	unverified := func(r *http.Request) { r.TLS = &tls.ConnectionState{} }
	tests := []struct {
		name    string
		cfg     config.Agent
		header  string
		conn    func(*http.Request)
		status  int
		result  string
		inBody  string
		bearerH bool // WWW-Authenticate: Bearer
	}{
		{"token", withToken, "Authorization: Bearer s3cret", nil, 200, telemetry.WebhookAccepted, "accepted 1 alerts", false},
		{"token, scheme in lower case", withToken, "Authorization: bearer s3cret", nil, 200, telemetry.WebhookAccepted, "", false},
		{"no credentials", withToken, "", nil, 401, telemetry.WebhookUnauthorized, "unauthorized", true},
		{"wrong token", withToken, "Authorization: Bearer s3cre", nil, 401, telemetry.WebhookUnauthorized, "", true},
		{"token as basic auth", withToken, "Authorization: Basic czNjcmV0", nil, 401, telemetry.WebhookUnauthorized, "", true},
		{"empty bearer", withToken, "Authorization: Bearer ", nil, 401, telemetry.WebhookUnauthorized, "", true},
		{"basic auth checked by exporter-toolkit", withBasic, "Authorization: Basic Y3ByYTpzM2NyZXQ=", nil, 200, telemetry.WebhookAccepted, "", false},
		{"basic auth configured, none sent", withBasic, "", nil, 401, telemetry.WebhookUnauthorized, "basic auth", false},
		{"verified client certificate", disabled, "", verified, 200, telemetry.WebhookAccepted, "", false},
		{"TLS without a client certificate", disabled, "", unverified, 403, telemetry.WebhookDisabled, "disabled", false},
		{"nothing configured", disabled, "Authorization: Bearer s3cret", nil, 403, telemetry.WebhookDisabled, "alertmanager_webhook.bearer_token_file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, h, _ := newTestAgent(t, tt.cfg, "monitors: []\n")
			req := httptest.NewRequest(http.MethodPost, webhookPath, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if k, v, ok := strings.Cut(tt.header, ": "); ok {
				req.Header.Set(k, v)
			}
			if tt.conn != nil {
				tt.conn(req)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.inBody) {
				t.Errorf("status %d %q, want %d containing %q", rec.Code, rec.Body.String(), tt.status, tt.inBody)
			}
			if got := rec.Header().Get("WWW-Authenticate"); tt.bearerH != (got == `Bearer realm="cpra-agent"`) {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if got := requests(a, tt.result); got != 1 {
				t.Errorf("requests{result=%q} = %v, want 1", tt.result, got)
			}
			if tt.status != 200 && alertsCounted(a, "firing", telemetry.AlertRejected)+alertsCounted(a, "firing", telemetry.AlertUnrouted) != 0 {
				t.Error("alerts of a refused request were counted: they were not read")
			}
		})
	}

	t.Run("rotated and removed token", func(t *testing.T) {
		cfg := withToken
		cfg.AlertmanagerWebhook.BearerTokenFile = writeTemp(t, "token", "old")
		a, h, _ := newTestAgent(t, cfg, "monitors: []\n")
		if rec := post(h, body, "Authorization: Bearer old"); rec.Code != 200 {
			t.Fatalf("old token: %d %q", rec.Code, rec.Body)
		}
		if err := os.WriteFile(cfg.AlertmanagerWebhook.BearerTokenFile, []byte("new\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if rec := post(h, body, "Authorization: Bearer old"); rec.Code != 401 {
			t.Errorf("old token after rotation: %d, want 401", rec.Code)
		}
		if rec := post(h, body, "Authorization: Bearer new"); rec.Code != 200 {
			t.Errorf("new token: %d %q, want 200", rec.Code, rec.Body)
		}
		if err := os.Remove(cfg.AlertmanagerWebhook.BearerTokenFile); err != nil {
			t.Fatal(err)
		}
		if rec := post(h, body, "Authorization: Bearer new"); rec.Code != 503 {
			t.Errorf("token file gone: %d %q, want 503 (Alertmanager retries)", rec.Code, rec.Body)
		}
		if got := requests(a, telemetry.WebhookUnavailable); got != 1 {
			t.Errorf("requests{result=unavailable} = %v, want 1", got)
		}
	})

	t.Run("checked at start-up", func(t *testing.T) {
		empty := withToken
		empty.AlertmanagerWebhook.BearerTokenFile = writeTemp(t, "token", " \n")
		missing := withToken
		missing.AlertmanagerWebhook.BearerTokenFile = filepath.Join(t.TempDir(), "absent")
		for _, cfg := range []config.Agent{empty, missing} {
			if _, err := CheckConfig(cfg); err == nil || !strings.Contains(err.Error(), "alertmanager_webhook.bearer_token_file") ||
				!strings.Contains(err.Error(), cfg.AlertmanagerWebhook.BearerTokenFile) {
				t.Errorf("CheckConfig with %s: %v, want an error naming the key and the file", cfg.AlertmanagerWebhook.BearerTokenFile, err)
			}
		}
		withCerts := config.DefaultAgent()
		withCerts.Web.ConfigFile = writeTemp(t, "web.yml", "tls_server_config: {client_auth_type: RequireAndVerifyClientCert}\n")
		for cfg, want := range map[*config.Agent]string{&withToken: "bearer token", &withBasic: "basic auth", &withCerts: "client certificates", &disabled: "disabled"} {
			if got, err := CheckConfig(*cfg); err != nil || !strings.HasPrefix(got, want) {
				t.Errorf("CheckConfig: %q, %v; want %q", got, err, want)
			}
		}
	})
}

func TestWebhookRefusesBadRequests(t *testing.T) {
	cfg := config.DefaultAgent()
	cfg.AlertmanagerWebhook.BearerTokenFile = writeTemp(t, "token", "s3cret")
	cfg.AlertmanagerWebhook.MaxRequestBytes = 4096
	a, h, _ := newTestAgent(t, cfg, "monitors: []\n")
	auth := "Authorization: Bearer s3cret"

	rec := post(h, "{not json", auth)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid Alertmanager webhook payload:\nmalformed JSON") {
		t.Errorf("malformed JSON: %d %q", rec.Code, rec.Body)
	}
	bad := strings.Replace(payload(firing("alertname", "A"), resolved("alertname", "B")), `"version":"4"`, `"version":"3"`, 1)
	rec = post(h, bad, auth)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `version: "3" is not supported`) {
		t.Errorf("wrong version: %d %q", rec.Code, rec.Body)
	}
	var many []alert
	for range 15 {
		many = append(many, alert{status: "x", labels: map[string]string{"a": "b"}})
	}
	rec = post(h, payload(many...), auth)
	if lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n"); rec.Code != 400 || len(lines) != maxProblems+2 || lines[len(lines)-1] != "and 5 more" {
		t.Errorf("15 problems: %d, %d lines, last %q; want 400, the first %d and how many more", rec.Code, len(lines), lines[len(lines)-1], maxProblems)
	}
	rec = post(h, `{"version":"4","alerts":[]}`+strings.Repeat(" ", 4096), auth)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "larger than 4096 bytes") {
		t.Errorf("too large: %d %q", rec.Code, rec.Body)
	}

	for result, want := range map[string]float64{telemetry.WebhookBadRequest: 3, telemetry.WebhookTooLarge: 1, telemetry.WebhookAccepted: 0} {
		if got := requests(a, result); got != want {
			t.Errorf("requests{result=%q} = %v, want %v", result, got, want)
		}
	}
	// The alerts of the requests that parsed: 2 with the wrong version, 15 with a bad status.
	for _, c := range []struct {
		status string
		want   float64
	}{{"firing", 1}, {"resolved", 1}, {"invalid", 15}} {
		if got := alertsCounted(a, c.status, telemetry.AlertRejected); got != c.want {
			t.Errorf("alerts{status=%q,result=rejected} = %v, want %v", c.status, got, c.want)
		}
	}

	a.ready.Store(false) // shutting down
	if rec := post(h, payload(firing("alertname", "A")), auth); rec.Code != 503 {
		t.Errorf("while shutting down: %d %q, want 503 (Alertmanager retries)", rec.Code, rec.Body)
	}
}

// TestWebhookRouting sends alerts to an in-process agent and follows each
// to its notifier, and a critical one to its monitor's intervention.
func TestWebhookRouting(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer svc.Close()
	var repairs atomic.Int64
	repair := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "HighLatency firing in Alertmanager") {
			t.Errorf("remedy request without the alert as its reason: %s", body)
		}
		repairs.Add(1)
	}))
	defer repair.Close()

	// Checks run hourly: the monitors stay as the alerts leave them.
	monitors := fmt.Sprintf(`monitors:
  - name: checkout
    groups: [shop]
    pulse_check: {type: http, interval: 1h, config: {url: %q}}
    intervention:
      type: webhook
      on_alert: true
      config: {url: %q, body: '{"reason": {{json .Reason}}}'}
    codes:
      red: {notify: log, config: {file: ""}}
  - name: quiet
    pulse_check: {type: http, interval: 1h, config: {url: %[1]q}}
    codes:
      red: {notify: log, config: {file: ""}}
      yellow: {dispatch: false}
  - name: bare
    pulse_check: {type: http, interval: 1h, config: {url: %[1]q}}
`, svc.URL+"/health", repair.URL+"/repair")
	withDefault := monitors + `alertmanager_webhook:
  codes:
    red: {notify: log, config: {file: ""}}
    cyan: {dispatch: false}
`
	cfg := config.DefaultAgent()
	cfg.AlertmanagerWebhook.BearerTokenFile = writeTemp(t, "token", "s3cret")
	auth := "Authorization: Bearer s3cret"
	a, h, out := newTestAgent(t, cfg, withDefault)

	critical := alert{status: "firing", labels: pairs([]string{"alertname", "HighLatency", "cpra_monitor", "checkout", "severity", "critical"}),
		annotations: map[string]string{"summary": "p99 above 2s"}}
	rec := post(h, payload(
		critical,
		firing("alertname", "Slow", "cpra_monitor", "quiet", "severity", "warning"),    // quiet's yellow: dispatch false
		firing("alertname", "Down", "cpra_monitor", "bare", "severity", "critical"),    // bare has no codes: the default route
		firing("alertname", "Lost", "cpra_monitor", "nowhere", "severity", "critical"), // no such monitor: the default route
		firing("alertname", "DiskFull", "severity", "critical"),                        // no monitor: the default route
		firing("alertname", "Note", "severity", "info"),                                // cyan: dispatch false in the default route
		firing("alertname", "CPRAMonitor", "monitor", "checkout", "code", "red"),       // the agent's own alert: a loop
	), auth)
	if rec.Code != 200 {
		t.Fatalf("status %d %q", rec.Code, rec.Body)
	}
	if want := "accepted 7 alerts (default=3, loop=1, monitor=1, suppressed=2)\n"; rec.Body.String() != want {
		t.Errorf("answer %q, want %q", rec.Body, want)
	}
	waitUntil(t, "the remedy to be called and checkout to be verifying", func() bool {
		v, _, err := a.Lookup(context.Background(), "checkout")
		return err == nil && repairs.Load() == 1 && v.State == incident.Verifying
	})
	waitUntil(t, "five codes in the log", func() bool { return len(out.codes(t)) >= 5 })
	got := map[string]string{} // monitor: code
	for _, c := range out.codes(t) {
		got[fmt.Sprint(c["monitor"])] += fmt.Sprint(c["code"]) + " "
		if c["monitor"] == "checkout" && c["code"] == "red" {
			if c["state"] != "intervening" || c["message"] != "HighLatency firing in Alertmanager: p99 above 2s" ||
				fmt.Sprint(c["groups"]) != "[shop]" || fmt.Sprint(c["labels"]) != "map[alertname:HighLatency severity:critical]" {
				t.Errorf("checkout's red line: %v", c)
			}
		}
	}
	// checkout: the alert's red, then cyan for the intervention (to its
	// red's notifier: cyan has no entry).
	want := map[string]string{"checkout": "red cyan ", "bare": "red ", "nowhere": "red ", "DiskFull": "red "}
	if !mapsEqual(got, want) {
		t.Errorf("codes by monitor %v, want %v", got, want)
	}

	// Alertmanager sends the group again: no second intervention.
	if rec := post(h, payload(critical), auth); rec.Code != 200 {
		t.Fatalf("again: %d %q", rec.Code, rec.Body)
	}
	if v, _, _ := a.Lookup(context.Background(), "checkout"); v.State != incident.Verifying {
		t.Errorf("after the same alert again: %v, want still verifying (no second intervention)", v.State)
	}
	// Resolved: green to checkout's notifiers, nothing else.
	res := critical
	res.status = "resolved"
	if rec := post(h, payload(res), auth); rec.Code != 200 {
		t.Fatalf("resolved: %d %q", rec.Code, rec.Body)
	}
	waitUntil(t, "checkout's green", func() bool {
		return slices.ContainsFunc(out.codes(t), func(c map[string]any) bool { return c["monitor"] == "checkout" && c["code"] == "green" })
	})
	for _, c := range []struct {
		status, result string
		want           float64
	}{
		{"firing", telemetry.AlertMonitor, 2}, {"firing", telemetry.AlertDefault, 3}, {"firing", telemetry.AlertSuppressed, 2},
		{"firing", telemetry.AlertLoop, 1}, {"resolved", telemetry.AlertMonitor, 1}, {"firing", telemetry.AlertUnrouted, 0},
	} {
		if got := alertsCounted(a, c.status, c.result); got != c.want {
			t.Errorf("alerts{status=%q,result=%q} = %v, want %v", c.status, c.result, got, c.want)
		}
	}
	if got := requests(a, telemetry.WebhookAccepted); got != 3 {
		t.Errorf("requests{result=accepted} = %v, want 3", got)
	}
	if n := repairs.Load(); n != 1 {
		t.Errorf("the remedy was called %d times, want once", n)
	}

	// A firing alert after the resolved one is a new alert: it may intervene again.
	again := critical
	again.labels = pairs([]string{"alertname", "HighLatency", "cpra_monitor", "checkout", "severity", "critical", "attempt", "2"})
	if rec := post(h, payload(again), auth); rec.Code != 200 {
		t.Fatalf("a new alert: %d %q", rec.Code, rec.Body)
	}
	waitUntil(t, "a second intervention for a new alert", func() bool { return repairs.Load() == 2 })

	t.Run("without a default route", func(t *testing.T) {
		a, h, out := newTestAgent(t, cfg, monitors)
		rec := post(h, payload(firing("alertname", "DiskFull", "severity", "critical"), firing("alertname", "Down", "cpra_monitor", "bare")), auth)
		if rec.Code != 200 || rec.Body.String() != "accepted 2 alerts (unrouted=2)\n" {
			t.Errorf("answer %d %q, want 200 and both unrouted", rec.Code, rec.Body)
		}
		if got := alertsCounted(a, "firing", telemetry.AlertUnrouted); got != 2 {
			t.Errorf("alerts{status=firing,result=unrouted} = %v, want 2", got)
		}
		if c := out.codes(t); len(c) != 0 {
			t.Errorf("codes written: %v", c)
		}
	})
}

// TestWebhookShards: every replica receives every alert and one handles
// it, the shard of its monitor, or shard 0 when it names none.
func TestWebhookShards(t *testing.T) {
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		name := fmt.Sprintf("m%d", i)
		if config.ShardOf(name, 2) == 1 {
			mine = name
		} else {
			theirs = name
		}
	}
	cfg := config.DefaultAgent()
	cfg.Shard = config.Shard{Count: 2, Index: 1}
	cfg.AlertmanagerWebhook.BearerTokenFile = writeTemp(t, "token", "s3cret")
	monitors := fmt.Sprintf("monitors:\n  - name: %s\n    enabled: false\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}\n"+
		"    codes: {red: {notify: log, config: {file: \"\"}}}\n", mine)
	a, h, out := newTestAgent(t, cfg, monitors)
	rec := post(h, payload(
		firing("alertname", "A", "cpra_monitor", mine, "severity", "critical"),
		firing("alertname", "B", "cpra_monitor", theirs, "severity", "critical"),
		firing("alertname", "C", "severity", "critical"),
	), "Authorization: Bearer s3cret")
	if rec.Code != 200 || rec.Body.String() != "accepted 3 alerts (monitor=1, other_shard=2)\n" {
		t.Errorf("answer %d %q", rec.Code, rec.Body)
	}
	if got := alertsCounted(a, "firing", telemetry.AlertOtherShard); got != 2 {
		t.Errorf("alerts{result=other_shard} = %v, want 2", got)
	}
	waitUntil(t, "the code of this shard's monitor", func() bool { return len(out.codes(t)) == 1 })
	if c := out.codes(t)[0]; c["monitor"] != mine || fmt.Sprint(c["labels"]) != "map[alertname:A severity:critical shard:1]" {
		t.Errorf("code %v, want %s's with the shard label", c, mine)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}
