package realserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const alertmanagerMissing = "prometheus-alertmanager not installed: run `make test` (it installs it) or apt-get install prometheus-alertmanager"

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	URL    string // base URL, for example http://127.0.0.1:39123
	client *http.Client
	proc   *process
}

// Stop stops Alertmanager, as an outage would.
func (a *Alertmanager) Stop() { a.proc.stop() }

// Start starts a stopped Alertmanager again, on the same address and with
// the same data directory (its alerts come back from its snapshot), and
// waits until it is ready.
func (a *Alertmanager) Start(t testing.TB) {
	t.Helper()
	if err := a.proc.restart(a.URL + "/-/ready"); err != nil {
		t.Fatalf("restart alertmanager: %v", err)
	}
}

// AlertmanagerOption changes the configuration StartAlertmanager writes.
type AlertmanagerOption func(*alertmanagerOptions)

type alertmanagerOptions struct {
	webhookURL   string
	webhookToken string
	config       []byte // the whole configuration, replacing the minimal one
}

// WithWebhookReceiver routes every alert to a webhook receiver at url (with
// send_resolved), instead of the default receiver that sends nothing.
func WithWebhookReceiver(url string) AlertmanagerOption {
	return func(o *alertmanagerOptions) { o.webhookURL = url }
}

// WithConfig runs Alertmanager with this configuration file's text instead
// of the minimal one, for tests of a shipped configuration.
func WithConfig(yaml []byte) AlertmanagerOption {
	return func(o *alertmanagerOptions) { o.config = yaml }
}

// WithWebhookBearerToken makes the webhook receiver send
// "Authorization: Bearer token".
func WithWebhookBearerToken(token string) AlertmanagerOption {
	return func(o *alertmanagerOptions) { o.webhookToken = token }
}

// StartAlertmanager runs prometheus-alertmanager (or alertmanager) on a free
// loopback port with clustering off and storage in a temporary directory,
// waits until /-/ready answers, and stops it when the test ends. It skips the
// test when the binary is not installed or with -short.
func StartAlertmanager(t testing.TB, opts ...AlertmanagerOption) *Alertmanager {
	t.Helper()
	if testing.Short() {
		t.Skip("real Alertmanager tests are skipped with -short")
	}
	bin := lookPath(t, alertmanagerMissing, "prometheus-alertmanager", "alertmanager")
	var o alertmanagerOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	cfg, err := yaml.Marshal(alertmanagerConfig(o))
	if err != nil {
		t.Fatalf("alertmanager config: %v", err)
	}
	if o.config != nil {
		cfg = o.config
	}
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatalf("write alertmanager config: %v", err)
	}
	url, proc := startProcess(t, "alertmanager", bin, func(addr string) []string {
		return []string{
			"--config.file=" + cfgFile,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--cluster.listen-address=", // empty: no gossip, no second port
			"--log.level=warn",
		}
	}, "/-/ready")
	return &Alertmanager{URL: url, client: &http.Client{Timeout: 10 * time.Second}, proc: proc}
}

// alertmanagerConfig is a minimal configuration: one route, one receiver,
// and every alert in its own group so notifications are not batched.
func alertmanagerConfig(o alertmanagerOptions) map[string]any {
	receiver := map[string]any{"name": "default"}
	if o.webhookURL != "" {
		webhook := map[string]any{"url": o.webhookURL, "send_resolved": true}
		if o.webhookToken != "" {
			webhook["http_config"] = map[string]any{"authorization": map[string]any{"credentials": o.webhookToken}}
		}
		receiver["webhook_configs"] = []map[string]any{webhook}
	}
	return map[string]any{
		"route": map[string]any{
			"receiver":        "default",
			"group_by":        []string{"..."},
			"group_wait":      "0s",
			"group_interval":  "1s",
			"repeat_interval": "1h",
		},
		"receivers": []any{receiver},
	}
}

// AlertState is one alert as GET /api/v2/alerts reports it.
type AlertState struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       AlertStatus       `json:"status"`
}

// AlertStatus is the status block of an AlertState.
type AlertStatus struct {
	State       string   `json:"state"` // "active", "suppressed" or "unprocessed"
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// Alerts returns the alerts Alertmanager holds. Alertmanager leaves out
// alerts whose endsAt has passed, so a resolved alert is simply absent.
func (a *Alertmanager) Alerts(ctx context.Context) ([]AlertState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get alerts: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("get alerts: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get alerts: status %s: %q", resp.Status, body)
	}
	var alerts []AlertState
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("get alerts: decode: %w", err)
	}
	return alerts, nil
}
