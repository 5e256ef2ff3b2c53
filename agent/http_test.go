package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// TestProbeEndpoint runs an agent in-process, as shard 0 of 2, with a
// disabled monitor of its own shard and one of the other shard, and checks
// /probe's answers. The end-to-end test covers checked monitors.
func TestProbeEndpoint(t *testing.T) {
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		name := fmt.Sprintf("m%d", i)
		if config.ShardOf(name, 2) == 0 {
			mine = name
		} else {
			theirs = name
		}
	}
	monitors := "monitors:\n"
	for _, name := range []string{mine, theirs} {
		monitors += fmt.Sprintf("  - name: %s\n    enabled: false\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}\n", name)
	}
	cfg := config.DefaultAgent()
	cfg.Shard = config.Shard{Count: 2, Index: 0}
	a, ctx := startTestAgent(t, cfg, fixed(monitors), nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a.ready.Store(true) // as Main does once the first configuration is applied
	h := a.handler()

	tests := []struct {
		query  string
		status int
		body   []string // substrings
		absent []string
	}{
		{"monitor=" + mine, http.StatusOK,
			[]string{fmt.Sprintf(`cpra_monitor_state{monitor=%q,state="maintenance"} 1`, mine)},
			[]string{"probe_success", "cpra_monitor_up"}}, // a disabled monitor is not checked
		{"monitor=" + theirs, http.StatusNotFound,
			[]string{fmt.Sprintf("unknown monitor %q", theirs), "another shard (this agent is shard.index 0 of shard.count 2)"}, nil},
		{"", http.StatusBadRequest, []string{"missing parameter: monitor"}, nil},
		{"monitor=", http.StatusBadRequest, []string{"missing parameter: monitor"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?"+tt.query, nil))
			body := rec.Body.String()
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d; body %q", rec.Code, tt.status, body)
			}
			for _, s := range tt.body {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %q:\n%s", s, body)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
		})
	}
}

// TestWebhookMethod: the mux answers anything but POST on the webhook's
// path with 405 and Allow: POST.
func TestWebhookMethod(t *testing.T) {
	a, ctx := startTestAgent(t, config.DefaultAgent(), fixed("monitors: []\n"), nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/alertmanager/webhook", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q; want 405 and POST", rec.Code, rec.Header().Get("Allow"))
	}
}

// /probe shows an https monitor's earliest certificate expiry as
// blackbox_exporter does (probe_ssl_earliest_cert_expiry), and the
// monitor's own series carries it too.
func TestProbeShowsCertificateExpiry(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	monitors := fmt.Sprintf("monitors:\n  - name: tls\n    metrics: true\n    pulse_check: {type: http, interval: 100ms, config: {url: %q, tls_config: {insecure_skip_verify: true}}}\n", srv.URL)
	a, ctx := startTestAgent(t, config.DefaultAgent(), fixed(monitors), nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a.ready.Store(true)
	want := fmt.Sprintf("probe_ssl_earliest_cert_expiry %g", float64(srv.Certificate().NotAfter.Unix()))
	waitUntil(t, "the certificate expiry in /probe", func() bool {
		rec := httptest.NewRecorder()
		a.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?monitor=tls", nil))
		body := rec.Body.String()
		return strings.Contains(body, want) && strings.Contains(body, `cpra_monitor_tls_earliest_cert_expiry_timestamp_seconds{monitor="tls"}`)
	})
}

// An agent running alone says so on /api/v1/cluster, with what it checks.
func TestClusterViewAlone(t *testing.T) {
	a, ctx := startTestAgent(t, config.DefaultAgent(), fixed("monitors:\n  - name: m\n    pulse_check: {type: tcp, interval: 1h, config: {host: 127.0.0.1, port: 1}}\n"), nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/cluster", nil))
	want := "{\n  \"enabled\": false,\n  \"monitors\": 1,\n  \"members\": []\n}\n"
	if rec.Code != http.StatusOK || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q, want 200 %q", rec.Code, rec.Body.String(), want)
	}
}
