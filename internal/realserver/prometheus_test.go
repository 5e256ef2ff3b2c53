package realserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrometheusScrapesEvaluatesAndAlerts: the real Prometheus scrapes a
// loopback target, evaluates a rule file, and sends the alert to the real
// Alertmanager.
func TestPrometheusScrapesEvaluatesAndAlerts(t *testing.T) {
	t.Parallel()
	am := StartAlertmanager(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE realserver_test_broken gauge\nrealserver_test_broken 1")
	}))
	defer target.Close()
	rules := filepath.Join(t.TempDir(), "test.rules.yml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: test
    rules:
      - alert: RealserverTestBroken
        expr: realserver_test_broken == 1
        labels: {severity: warning}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := StartPrometheus(t, PrometheusConfig{
		Targets:      []string{strings.TrimPrefix(target.URL, "http://")},
		RuleFiles:    []string{rules},
		Alertmanager: am.URL,
	})
	ctx := context.Background()
	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			ok, detail := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %s", what, detail)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("the target to be up", func() (bool, string) {
		ts, err := p.Targets(ctx)
		return err == nil && len(ts) == 1 && ts[0].Health == "up", fmt.Sprint(ts, err)
	})
	wait("the rule to fire", func() (bool, string) {
		rs, err := p.Rules(ctx)
		return err == nil && len(rs) == 1 && rs[0].Health == "ok" && rs[0].State == "firing", fmt.Sprint(rs, err)
	})
	got, err := p.Query(ctx, "realserver_test_broken")
	if err != nil || len(got) != 1 {
		t.Fatalf("query: %v %v", got, err)
	}
	wait("the alert in Alertmanager", func() (bool, string) {
		as, err := am.Alerts(ctx)
		for _, a := range as {
			if a.Labels["alertname"] == "RealserverTestBroken" {
				return true, ""
			}
		}
		return false, fmt.Sprint(as, err)
	})
}
