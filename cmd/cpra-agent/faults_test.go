package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// target is a checked HTTP service whose health the test sets.
type target struct {
	url string
	up  atomic.Bool
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !tg.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	tg.url = srv.URL
	return tg
}

// hookReceiver is a webhook receiver that can fail, and records every
// code it accepted, in arrival order, by monitor.
type hookReceiver struct {
	url  string
	down atomic.Bool
	mu   sync.Mutex
	got  map[string][]string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{got: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			http.Error(w, "receiver down", http.StatusServiceUnavailable)
			return
		}
		var p struct{ Monitor, Code string }
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got[p.Monitor] = append(h.got[p.Monitor], p.Code)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *hookReceiver) codes(monitor string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got[monitor])
}

// loggedCodes are the codes the agent's "code" log lines say it sent to a
// receiver for monitor, in order.
func loggedCodes(a *agentProc, monitor string) []string {
	var out []string
	for _, e := range a.logEntries("code") {
		if e["monitor"] == monitor && e["receivers"] != float64(0) {
			out = append(out, fmt.Sprint(e["code"]))
		}
	}
	return out
}

// firingIn is what Alertmanager holds active: monitor → code.
func firingIn(t *testing.T, am *realserver.Alertmanager) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alerts, err := am.Alerts(ctx)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, a := range alerts {
		if a.Labels["alertname"] == "CPRAMonitor" {
			out[a.Labels["monitor"]] += a.Labels["code"]
		}
	}
	return out
}

// TestFaultsLoseNothing is the end-to-end fault test of issue #11, with the
// real binary and a real Alertmanager: Alertmanager stopped and started
// while codes flow, a webhook receiver failing and recovering, and the
// agent restarted in the middle of incidents. Afterwards every code the
// agent sent was delivered at least once and in order per monitor, and
// Alertmanager's alerts match the monitors' states exactly.
func TestFaultsLoseNothing(t *testing.T) {
	am := realserver.StartAlertmanager(t)
	hook := newHookReceiver(t)
	dir := t.TempDir()
	targets := map[string]*target{}
	var monitors strings.Builder
	monitors.WriteString("monitors:\n")
	for _, name := range []string{"a0", "a1", "a2", "w0", "w1", "w2"} {
		tg := newTarget(t)
		targets[name] = tg
		codes := fmt.Sprintf(`      red: {notify: alertmanager, config: {url: %q, resend_interval: 1s}}
      green: {notify: alertmanager, config: {url: %q, resend_interval: 1s}}
      yellow: {dispatch: false}
`, am.URL, am.URL)
		if name[0] == 'w' {
			codes = fmt.Sprintf("      yellow: {notify: webhook, config: {url: %q, timeout: 2s}}\n", hook.url)
		}
		fmt.Fprintf(&monitors, `  - name: %s
    metrics: true
    pulse_check: {type: http, interval: 100ms, max_failures: 1, healthy_threshold: 1, config: {url: %q}}
    codes:
%s`, name, tg.url, codes)
	}
	monitorsFile := filepath.Join(dir, "monitors.yaml")
	agentConfig := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(monitorsFile, []byte(monitors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Quick retries, a short shutdown: what the receiver does not take
	// within it goes to the state directory.
	if err := os.WriteFile(agentConfig, []byte("shutdown_timeout: 3s\ncodes: {initial_backoff: 100ms, max_backoff: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--yaml=" + monitorsFile, "--config=" + agentConfig, "--storage.path=" + filepath.Join(dir, "state")}
	set := func(health map[string]bool) {
		for name, up := range health {
			targets[name].up.Store(up)
		}
	}
	settled := func(a *agentProc, want map[string]string) {
		t.Helper()
		waitFor(t, "the monitors' states", func() (bool, string) {
			m, err := a.metrics()
			if err != nil {
				return false, err.Error()
			}
			var miss []string
			for name, state := range want {
				miss = m.expect(miss, "cpra_monitor_state", "==", 1, "monitor", name, "state", state)
			}
			return len(miss) == 0, strings.Join(miss, "; ")
		})
	}
	alertsAre := func(want map[string]string) {
		t.Helper()
		waitFor(t, "Alertmanager's alerts to match the monitors", func() (bool, string) {
			got := firingIn(t, am)
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("active %v, want %v", got, want)
		})
	}

	// Everything down.
	set(map[string]bool{"a0": false, "a1": false, "a2": false, "w0": false, "w1": false, "w2": false})
	first := startAgent(t, args...)
	settled(first, map[string]string{"a0": "down", "a1": "down", "a2": "down", "w0": "down", "w1": "down", "w2": "down"})
	alertsAre(map[string]string{"a0": "red", "a1": "red", "a2": "red"})

	// Alertmanager stops while a0 recovers; its green waits and is retried.
	am.Stop()
	set(map[string]bool{"a0": true})
	settled(first, map[string]string{"a0": "healthy"})
	waitFor(t, "a failed delivery to the stopped Alertmanager, as in a real outage", func() (bool, string) {
		m, err := first.metrics()
		if err != nil {
			return false, err.Error()
		}
		miss := m.expect(nil, "cpra_codes_dispatched_total", ">=", 1, "code", "green", "notifier", "alertmanager", "result", "retry")
		return len(miss) == 0, strings.Join(miss, "; ")
	})
	am.Start(t)
	alertsAre(map[string]string{"a1": "red", "a2": "red"})

	// The webhook receiver fails while w0 recovers and w1 recovers and
	// breaks again.
	hook.down.Store(true)
	set(map[string]bool{"w0": true, "w1": true})
	settled(first, map[string]string{"w0": "healthy", "w1": "healthy"})
	set(map[string]bool{"w1": false})
	settled(first, map[string]string{"w1": "down"})
	hook.down.Store(false)
	waitFor(t, "w1's green, yellow and red after the receiver came back", func() (bool, string) {
		got := hook.codes("w1")
		return len(got) >= 5, fmt.Sprint(got)
	})

	// The receiver fails again and the agent restarts in the middle of
	// incidents: w2's green is not delivered before the shutdown.
	hook.down.Store(true)
	set(map[string]bool{"w2": true, "a2": true})
	settled(first, map[string]string{"w2": "healthy", "a2": "healthy"})
	first.signal(t, syscall.SIGTERM)
	if err := first.wait(t, time.Minute); err != nil {
		t.Fatalf("the first agent's shutdown: %v", err)
	}
	hook.down.Store(false)
	second := startAgent(t, args...)

	// The final states.
	set(map[string]bool{"a0": true, "a1": false, "a2": true, "w0": true, "w1": false, "w2": true})
	settled(second, map[string]string{"a0": "healthy", "a1": "down", "a2": "healthy", "w0": "healthy", "w1": "down", "w2": "healthy"})
	alertsAre(map[string]string{"a1": "red"})
	for _, name := range []string{"w0", "w1", "w2"} {
		want := compact(append(loggedCodes(first, name), loggedCodes(second, name)...))
		waitFor(t, "every code of "+name+" delivered, in order", func() (bool, string) {
			got := compact(hook.codes(name))
			return slices.Equal(got, want), fmt.Sprintf("received %v, the agents sent %v", hook.codes(name), want)
		})
	}
	if got := first.logEntries("codes not delivered before shutdown saved for the next start"); len(got) != 1 {
		t.Errorf("the first agent saved undelivered codes %d times, want once (w2's green)", len(got))
	}
	if got := second.logEntries("state restored"); len(got) != 1 {
		t.Errorf("the second agent logged %d \"state restored\" lines, want 1", len(got))
	}
}

// compact drops consecutive repeats: a code delivered twice (a retry
// after a lost answer) is still delivered in order.
func compact(codes []string) []string { return slices.Compact(codes) }
