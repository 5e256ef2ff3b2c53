package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// switchable is an HTTP target whose health the test sets.
func switchable(t *testing.T) (url string, healthy *atomic.Bool) {
	t.Helper()
	healthy = &atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, healthy
}

// alertingMonitor sends api's red and green to the Alertmanager at amURL,
// with the given timeout (a change that replaces the notifier instance).
func alertingMonitor(target, amURL, timeout string) string {
	am := fmt.Sprintf(`{notify: alertmanager, config: {url: %q, timeout: %s, resend_interval: 1h}}`, amURL, timeout)
	return fmt.Sprintf(`monitors:
  - name: api
    pulse_check: {type: http, interval: 100ms, max_failures: 1, healthy_threshold: 1, config: {url: %q}}
    codes:
      red: %s
      green: %s
`, target, am, am)
}

// active returns the CPRAMonitor alerts am holds for monitor api.
func active(t *testing.T, am *realserver.Alertmanager) []realserver.AlertState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(a realserver.AlertState) bool { return a.Labels["monitor"] != "api" })
}

// A red alert fired before reloads that moved the monitor's codes to
// another Alertmanager and back, and that replaced the notifier, is
// resolved wherever it was fired when the monitor recovers: the alert
// follows the monitor, not the notifier instance (issue #11, item 1).
func TestAlertFollowsTheMonitorAcrossReloads(t *testing.T) {
	am1, am2 := realserver.StartAlertmanager(t), realserver.StartAlertmanager(t)
	target, healthy := switchable(t)
	var mu sync.Mutex
	text := alertingMonitor(target, am1.URL, "5s")
	set := func(s string) { mu.Lock(); text = s; mu.Unlock() }
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(text), nil }
	a, ctx := startTestAgent(t, config.DefaultAgent(), read, nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "api's red alert in the first Alertmanager", func() bool {
		got := active(t, am1)
		return len(got) == 1 && got[0].Labels["code"] == "red"
	})
	v, _, _ := a.Lookup(ctx, "api")
	if v.Incident == 0 {
		t.Fatalf("api is %v with no incident ID in its status", v.State)
	}

	// Move the codes to the second Alertmanager: the first one's alert is
	// resolved, the second one gets it.
	set(alertingMonitor(target, am2.URL, "5s"))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the alert to move to the second Alertmanager", func() bool {
		return len(active(t, am1)) == 0 && len(active(t, am2)) == 1
	})
	// Back, with a new timeout (a new instance for the same destination).
	set(alertingMonitor(target, am1.URL, "7s"))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	set(alertingMonitor(target, am1.URL, "6s"))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the alert back in the first Alertmanager only", func() bool {
		return len(active(t, am1)) == 1 && len(active(t, am2)) == 0
	})
	if w, _, _ := a.Lookup(ctx, "api"); w.Incident != v.Incident {
		t.Errorf("the reloads changed the incident: %d, then %d", v.Incident, w.Incident)
	}

	healthy.Store(true)
	waitUntil(t, "the recovery to resolve the alert everywhere", func() bool {
		return len(active(t, am1)) == 0 && len(active(t, am2)) == 0
	})
	if w, _, _ := a.Lookup(ctx, "api"); w.Incident != 0 {
		t.Errorf("api recovered (%v) but its status still names incident %d", w.State, w.Incident)
	}
}

// fakeAM counts the alerts posted to it and keeps each alert's latest
// version, to tell which are firing.
type fakeAM struct {
	srv    *httptest.Server
	posts  atomic.Int64
	mu     sync.Mutex
	latest map[string]time.Time // endsAt by labels
}

func newFakeAM(t *testing.T) *fakeAM {
	f := &fakeAM{latest: map[string]time.Time{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			EndsAt time.Time         `json:"endsAt"`
		}
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.posts.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, a := range alerts {
			f.latest[fmt.Sprint(slices.Sorted(maps.Keys(a.Labels)), a.Labels)] = a.EndsAt
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAM) firing() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, end := range f.latest {
		if end.After(time.Now()) {
			n++
		}
	}
	return n
}

// Thousands of reloads that flip the Alertmanager a firing monitor's codes
// go to leave no goroutine behind: each dropped notifier is closed once
// what it held is resolved, and only the current one holds the alert.
func TestReloadsLeakNothing(t *testing.T) {
	am1, am2 := newFakeAM(t), newFakeAM(t)
	target, _ := switchable(t)
	var mu sync.Mutex
	text := alertingMonitor(target, am1.srv.URL, "5s")
	set := func(s string) { mu.Lock(); text = s; mu.Unlock() }
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(text), nil }
	a, ctx := startTestAgent(t, config.DefaultAgent(), read, nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "api's alert to fire", func() bool { return am1.firing() == 1 })

	// Each reload resolves the alert at one and fires it at the other.
	flip := func(n int) {
		sent := am1.posts.Load() + am2.posts.Load()
		// At least: a flip that outlasts the 5s resend interval also re-sends
		// the firing alert once or twice.
		defer waitUntil(t, "every resolution and alert to be delivered", func() bool {
			return am1.posts.Load()+am2.posts.Load() >= sent+2*int64(n)
		})
		for i := range n {
			url := am1.srv.URL
			if i%2 == 0 {
				url = am2.srv.URL
			}
			set(alertingMonitor(target, url, "5s"))
			if err := a.Reload(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	flip(100) // warm up: connection pools, the dispatcher's workers
	waitUntil(t, "the alert to settle in the first Alertmanager", func() bool {
		return am1.firing() == 1 && am2.firing() == 0
	})
	base, heap := settledGoroutines(), liveHeap()
	flip(2000)
	waitUntil(t, "the alert to settle again", func() bool { return am1.firing() == 1 && am2.firing() == 0 })
	if n := settledGoroutines(); n > base+10 {
		t.Errorf("goroutines went from %d to %d over 2000 reloads", base, n)
	}
	// 2000 leaked notifiers with their connection pools would be tens of
	// MiB; a few MiB of slack covers the runtime's own noise.
	if h := liveHeap(); h > heap+8<<20 {
		t.Errorf("live heap went from %d to %d KiB over 2000 reloads", heap>>10, h>>10)
	}
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// settledGoroutines counts goroutines once idle connections had a moment
// to close.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
