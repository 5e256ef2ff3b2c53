package agent

import (
	"context"
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
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/internal/realserver"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// runUntilStopped runs an agent on cfg until stop is called, which waits
// for its shutdown (and so its last state write).
func runUntilStopped(t *testing.T, cfg config.Agent, text string, stdout io.Writer) (a *Agent, ctx context.Context, stop func()) {
	t.Helper()
	a, err := New(cfg, testKinds(t, stdout), Source{Name: "monitors.yaml", Read: fixed(text)},
		telemetry.NewMetrics(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	return a, ctx, stop
}

// receiver is a webhook receiver that fails while down and records the
// codes it accepted, as monitor:code.
type receiver struct {
	srv       *httptest.Server
	down      atomic.Bool
	mu        sync.Mutex
	got       []string
	incidents []uint64 // of each code accepted
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var p struct {
			Monitor, Code string
			Incident      uint64 `json:"incident_id"`
		}
		_ = json.NewDecoder(req.Body).Decode(&p)
		r.mu.Lock()
		r.got = append(r.got, p.Monitor+":"+p.Code)
		r.incidents = append(r.incidents, p.Incident)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) codes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// A restart in the middle of an incident loses nothing (issue #11, item
// 2): the incident carries on (no second red), the codes a failing
// receiver did not take before shutdown are delivered after the start, a
// monitor disabled across the restart gets its gray, and the first passing
// check resolves the alert in a real Alertmanager.
func TestRestartMidIncident(t *testing.T) {
	am := realserver.StartAlertmanager(t)
	target, healthy := switchable(t)
	hook := newReceiver(t)
	hook.down.Store(true)
	codesFile := filepath.Join(t.TempDir(), "codes.log")
	monitors := func(oldEnabled bool) string {
		return fmt.Sprintf(`monitors:
  - name: api
    pulse_check: {type: http, interval: 100ms, max_failures: 1, healthy_threshold: 3, config: {url: %q}}
    codes:
      red: {notify: alertmanager, config: {url: %q}}
      green: {notify: alertmanager, config: {url: %q}}
      yellow: {dispatch: false}
  - name: db
    pulse_check: {type: tcp, interval: 100ms, max_failures: 1, config: {host: 127.0.0.1, port: 1}}
    codes:
      red: {notify: webhook, config: {url: %q}}
      yellow: {notify: webhook, config: {url: %q}}
  - name: old
    enabled: %v
    pulse_check: {type: tcp, interval: 1h, config: {host: 127.0.0.1, port: 1}}
    codes:
      gray: {notify: log, config: {file: %q}}
`, target, am.URL, am.URL, hook.srv.URL, hook.srv.URL, oldEnabled, codesFile)
	}
	cfg := config.DefaultAgent()
	cfg.Storage.Path = t.TempDir()
	cfg.ShutdownTimeout = 2e9 // the failing receiver's retries are handed back, not waited for

	first, ctx, stop := runUntilStopped(t, cfg, monitors(true), io.Discard)
	waitUntil(t, "api's red alert in Alertmanager", func() bool {
		got := active(t, am)
		return len(got) == 1 && got[0].Labels["code"] == "red"
	})
	waitUntil(t, "db down, its codes failing", func() bool {
		v, _, _ := first.Lookup(ctx, "db")
		return v.State.String() == "down"
	})
	if v, _, _ := first.Lookup(ctx, "api"); v.Incident == 0 {
		t.Fatalf("api is %v without an incident ID", v.State)
	}
	stop()

	f, err := state.Read(cfg.Storage.Path, state.Shard{Count: 1})
	if err != nil || f == nil {
		t.Fatalf("state after shutdown: %v, %v", f, err)
	}
	if len(f.Pending) < 2 || len(f.Held) != 1 || len(f.Open) != 2 {
		t.Fatalf("state: %d pending, %d held, %d open incidents; want db's two codes, api's red, two incidents", len(f.Pending), len(f.Held), len(f.Open))
	}

	// While the agent was away, the receiver came back and api recovered.
	hook.down.Store(false)
	healthy.Store(true)
	second, ctx2, _ := runUntilStopped(t, cfg, monitors(false), io.Discard)
	waitUntil(t, "db's codes from before the restart delivered", func() bool {
		got := hook.codes()
		return len(got) >= 2 && got[0] == "db:yellow" && got[1] == "db:red"
	})
	waitUntil(t, "old's gray: disabled across the restart", func() bool {
		data, _ := os.ReadFile(codesFile)
		return strings.Contains(string(data), `"monitor":"old","code":"gray"`)
	})
	waitUntil(t, "api's alert resolved in Alertmanager", func() bool { return len(active(t, am)) == 0 })
	if n := testutil.ToFloat64(second.m.Checks.WithLabelValues("http", "success")); n >= 3 {
		t.Errorf("api's alert was resolved after %v passing checks, want the first (healthy_threshold is 3)", n)
	}
	if v, _, _ := second.Lookup(ctx2, "api"); v.Incident != 0 || v.State.String() != "healthy" {
		t.Errorf("api after recovering: %v, incident %d", v.State, v.Incident)
	}
	// db is still down: its incident goes on, without a second yellow or red.
	waitUntil(t, "more failed checks of db", func() bool {
		return testutil.ToFloat64(second.m.Checks.WithLabelValues("tcp", "failure")) >= 5
	})
	if got := hook.codes(); len(got) != 2 {
		t.Errorf("the receiver got %v, want db's yellow and red once each", got)
	}
	var dbIncident uint64
	for _, oi := range f.Open {
		if oi.Monitor == "db" {
			dbIncident = oi.ID
		}
	}
	hook.mu.Lock()
	if dbIncident == 0 || !slices.Equal(hook.incidents, []uint64{dbIncident, dbIncident}) {
		t.Errorf("the codes delivered after the restart belong to incidents %v, want the saved %d", hook.incidents, dbIncident)
	}
	hook.mu.Unlock()
	if v, _, _ := second.Lookup(ctx2, "db"); v.Incident == 0 || v.State.String() != "down" {
		t.Errorf("db after the restart: %v, incident %d; want its incident carried on", v.State, v.Incident)
	}
	if n := testmetrics.Value(t, second.m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "alertmanager", "result", "success"); n != 0 {
		t.Errorf("api's red was sent again after the restart (%v)", n)
	}
}
