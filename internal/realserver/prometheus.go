package realserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const prometheusMissing = "prometheus not installed: run `make test` (it installs it) or apt-get install prometheus"

// PrometheusConfig is what StartPrometheus configures.
type PrometheusConfig struct {
	Job          string   // scrape job name; default "cpra-agent"
	Targets      []string // host:port to scrape
	RuleFiles    []string // rule files to load, as paths
	Alertmanager string   // base URL of an Alertmanager to send alerts to; empty for none
	// Interval is both the scrape and the rule evaluation interval;
	// default one second, so tests see changes quickly.
	Interval time.Duration
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	URL    string
	client *http.Client
}

// StartPrometheus runs Debian's prometheus on a free loopback port with
// storage in a temporary directory, waits until it is ready, and stops it
// when the test ends. It skips the test when the binary is not installed
// or with -short.
func StartPrometheus(t testing.TB, c PrometheusConfig) *Prometheus {
	t.Helper()
	if testing.Short() {
		t.Skip("real Prometheus tests are skipped with -short")
	}
	bin := lookPath(t, prometheusMissing, "prometheus")
	if c.Job == "" {
		c.Job = "cpra-agent"
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     c.Interval.String(),
			"evaluation_interval": c.Interval.String(),
		},
		"rule_files": c.RuleFiles,
		"scrape_configs": []any{map[string]any{
			"job_name":       c.Job,
			"static_configs": []any{map[string]any{"targets": c.Targets}},
		}},
	}
	if c.Alertmanager != "" {
		u, err := url.Parse(c.Alertmanager)
		if err != nil {
			t.Fatalf("alertmanager URL: %v", err)
		}
		cfg["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{
			"scheme":         u.Scheme,
			"static_configs": []any{map[string]any{"targets": []string{u.Host}}},
		}}}
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("prometheus config: %v", err)
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatalf("write prometheus config: %v", err)
	}
	base := start(t, "prometheus", bin, func(addr string) []string {
		return []string{
			"--config.file=" + cfgFile,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--rules.alert.resend-delay=1s",
			"--log.level=warn",
		}
	}, "/-/ready")
	return &Prometheus{URL: base, client: &http.Client{Timeout: 10 * time.Second}}
}

// get decodes the data field of a Prometheus API answer into out.
func (p *Prometheus) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var envelope struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("GET %s: %s: %q", path, resp.Status, body)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, out)
}

// Target is one scrape target as /api/v1/targets reports it.
type Target struct {
	ScrapeURL string `json:"scrapeUrl"`
	Health    string `json:"health"` // "up", "down" or "unknown"
	LastError string `json:"lastError"`
}

// Targets returns the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		Active []Target `json:"activeTargets"`
	}
	err := p.get(ctx, "/api/v1/targets", &data)
	return data.Active, err
}

// Rule is one loaded rule as /api/v1/rules reports it.
type Rule struct {
	Name      string `json:"name"`
	Type      string `json:"type"`   // "alerting" or "recording"
	Health    string `json:"health"` // "ok", "err" or "unknown" (not evaluated yet)
	LastError string `json:"lastError"`
	State     string `json:"state"` // alerting rules: "inactive", "pending" or "firing"
	// LastEvaluation is when the rule was last evaluated.
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// Rules returns every loaded rule.
func (p *Prometheus) Rules(ctx context.Context) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", &data); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// Sample is one element of an instant-vector query result.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// Query evaluates an instant query.
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []Sample `json:"result"`
	}
	err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(expr), &data)
	return data.Result, err
}
