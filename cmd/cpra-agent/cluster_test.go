package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clusterAddr returns a free TCP and UDP port on the given loopback
// address (memberlist binds both).
func clusterAddr(t *testing.T, ip string) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return addr
		}
	}
	t.Fatalf("no free TCP and UDP port on %s", ip)
	return ""
}

// checkedBy maps each monitor to the replicas that expose a last check of
// it (cpra_monitor_up): a replica shows only the monitors it checks.
func checkedBy(t *testing.T, agents map[string]*agentProc) (map[string][]string, string) {
	t.Helper()
	by := map[string][]string{}
	for name, a := range agents {
		m, err := a.metrics()
		if err != nil {
			return nil, err.Error()
		}
		if f := m["cpra_monitor_up"]; f != nil {
			for _, s := range f.GetMetric() {
				for _, lp := range s.GetLabel() {
					if lp.GetName() == "monitor" {
						by[lp.GetValue()] = append(by[lp.GetValue()], name)
					}
				}
			}
		}
	}
	return by, ""
}

// TestClusterSharesAndTakesOver runs three replicas on 127.0.0.1-3 that
// join over memberlist: every monitor is checked by exactly one; killed
// with SIGKILL, one replica's monitors are checked by the survivors; back,
// it gets its share again.
func TestClusterSharesAndTakesOver(t *testing.T) {
	t.Parallel()
	const n = 120
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	dir := t.TempDir()
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf(`  - name: m-%03d
    metrics: true
    pulse_check: {type: http, interval: 500ms, timeout: 400ms, config: {url: %q}}
`, i, fmt.Sprintf("%s/m-%03d", target.URL, i)))
	}
	monitorFile := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitorFile, list...)
	// Fast failure detection, as a test can afford on loopback.
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "cluster: {probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 2, gossip_interval: 50ms}\n")

	gossip := map[string]string{}
	for _, r := range []string{"a", "b", "c"} {
		gossip[r] = clusterAddr(t, map[string]string{"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}[r])
	}
	start := func(r string) *agentProc {
		return startAgent(t, "--config="+agentConfig, "--yaml="+monitorFile, "--storage.path="+filepath.Join(dir, r),
			"--cluster.name="+r, "--cluster.listen-address="+gossip[r], "--cluster.join="+gossip["a"], "--cluster.join="+gossip["b"])
	}
	agents := map[string]*agentProc{"a": start("a"), "b": start("b"), "c": start("c")}

	exactlyOnce := func(what string, among map[string]*agentProc) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			by, errText := checkedBy(t, among)
			if errText != "" {
				return false, errText
			}
			var wrong []string
			for i := range n {
				name := fmt.Sprintf("m-%03d", i)
				if len(by[name]) != 1 {
					wrong = append(wrong, fmt.Sprintf("%s by %v", name, by[name]))
				}
			}
			sort.Strings(wrong)
			return len(wrong) == 0, fmt.Sprintf("%d monitors not checked by exactly one replica: %s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "; "))
		})
	}
	owned := func(a *agentProc) float64 {
		m, err := a.metrics()
		if err != nil {
			return -1
		}
		v, _ := m.value("cpra_cluster_owned_monitors")
		return v
	}
	exactlyOnce("every monitor checked by exactly one of three replicas", agents)
	for r, a := range agents {
		if o := owned(a); o < n/6 || o > n/2 {
			t.Errorf("replica %s owns %v of %d monitors, want about a third", r, o, n)
		}
	}
	// Every replica's view: three alive members whose shares add up to
	// the file, and its own share is what it checks.
	for r, a := range agents {
		status, body := a.get("/api/v1/cluster")
		var view struct {
			Enabled  bool   `json:"enabled"`
			Self     string `json:"self"`
			Monitors int    `json:"monitors"`
			Members  []struct {
				Name     string `json:"name"`
				State    string `json:"state"`
				Monitors int    `json:"monitors"`
			} `json:"members"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &view) != nil || !view.Enabled || view.Self != r || len(view.Members) != 3 {
			t.Fatalf("replica %s: /api/v1/cluster %d %s", r, status, body)
		}
		total := 0
		for _, m := range view.Members {
			total += m.Monitors
			if m.State != "alive" || m.Name == r && m.Monitors != view.Monitors {
				t.Errorf("replica %s: member %+v (checks %d itself)", r, m, view.Monitors)
			}
		}
		if total != n {
			t.Errorf("replica %s: the members' shares add up to %d, want %d", r, total, n)
		}
	}

	// SIGKILL: no goodbye; the survivors' failure detector notices.
	killed := time.Now()
	cOwned := owned(agents["c"])
	agents["c"].waited.Store(true)
	if err := agents["c"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-agents["c"].done
	survivors := map[string]*agentProc{"a": agents["a"], "b": agents["b"]}
	exactlyOnce("the killed replica's monitors checked by the survivors", survivors)
	t.Logf("takeover of %v monitors within %v of the kill", cOwned, time.Since(killed).Round(100*time.Millisecond))
	for _, a := range survivors {
		waitFor(t, "the survivors to count c dead", func() (bool, string) {
			m, err := a.metrics()
			if err != nil {
				return false, err.Error()
			}
			miss := m.expect(nil, "cpra_cluster_members", "==", 1, "state", "dead")
			miss = m.expect(miss, "cpra_cluster_members", "==", 2, "state", "alive")
			return len(miss) == 0, strings.Join(miss, "; ")
		})
	}

	// Back: it joins again and gets its share back.
	agents["c"] = start("c")
	exactlyOnce("every monitor checked by exactly one replica after c came back", agents)
	if o := owned(agents["c"]); o < n/6 || o > n/2 {
		t.Errorf("the returned replica owns %v of %d monitors, want about a third", o, n)
	}
}

// TestClusterIncidentsFollowTheMonitor: monitors red on a replica that is
// then SIGKILLed (after a replication round) or stopped with SIGTERM (at
// once: it hands over before it goes) stay red on the survivors that take
// them over, with no second yellow or red; when they recover, one green
// each.
func TestClusterIncidentsFollowTheMonitor(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			incidentsFollow(t, sig)
		})
	}
}

func incidentsFollow(t *testing.T, sig syscall.Signal) {
	const n = 60
	var failing sync.Map // path -> true while it answers 500
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, bad := failing.Load(r.URL.Path); bad {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(target.Close)
	hook := newHookReceiver(t)
	dir := t.TempDir()
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf(`  - name: m-%03d
    pulse_check: {type: http, interval: 500ms, timeout: 400ms, max_failures: 2, healthy_threshold: 1, config: {url: %q}}
    codes:
      yellow: {notify: webhook, config: {url: %q}}
      red: {notify: webhook, config: {url: %q}}
      green: {notify: webhook, config: {url: %q}}
`, i, fmt.Sprintf("%s/m-%03d", target.URL, i), hook.url, hook.url, hook.url))
	}
	monitorFile := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitorFile, list...)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "cluster: {probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 2, gossip_interval: 50ms}\n")
	gossip := map[string]string{"a": clusterAddr(t, "127.0.0.1"), "b": clusterAddr(t, "127.0.0.2"), "c": clusterAddr(t, "127.0.0.3")}
	agents := map[string]*agentProc{}
	for _, r := range []string{"a", "b", "c"} {
		agents[r] = startAgent(t, "--config="+agentConfig, "--yaml="+monitorFile, "--storage.path="+filepath.Join(dir, r),
			"--cluster.name="+r, "--cluster.listen-address="+gossip[r], "--cluster.join="+gossip["a"])
	}
	waitFor(t, "three members everywhere", func() (bool, string) {
		for r, a := range agents {
			m, err := a.metrics()
			if err != nil {
				return false, err.Error()
			}
			if miss := m.expect(nil, "cpra_cluster_members", "==", 3, "state", "alive"); len(miss) > 0 {
				return false, r + ": " + strings.Join(miss, "; ")
			}
		}
		return true, ""
	})

	// A third of the monitors fail and go red.
	var bad []string
	for i := 0; i < n; i += 3 {
		name := fmt.Sprintf("m-%03d", i)
		bad = append(bad, name)
		failing.Store("/"+name, true)
	}
	waitFor(t, "every failing monitor red", func() (bool, string) {
		for _, name := range bad {
			if got := hook.codes(name); !slices.Equal(got, []string{"yellow", "red"}) {
				return false, fmt.Sprintf("%s: %v", name, got)
			}
		}
		return true, ""
	})
	// c has sent its incidents to their successors since.
	sentBefore := func() float64 {
		m, err := agents["c"].metrics()
		if err != nil {
			return -1
		}
		v, _ := m.value("cpra_cluster_handover_total", "result", "sent")
		return v
	}
	if sig == syscall.SIGKILL {
		base := sentBefore()
		waitFor(t, "a replication round of c after the reds", func() (bool, string) {
			v := sentBefore()
			return v >= base+4, fmt.Sprintf("%v messages sent, want %v", v, base+4) // two rounds to two peers
		})
	}
	agents["c"].waited.Store(true)
	if err := agents["c"].cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-agents["c"].done
	if sig == syscall.SIGTERM {
		if agents["c"].err != nil {
			t.Fatalf("c exited with %v after SIGTERM", agents["c"].err)
		}
		if len(agents["c"].logEntries("left the cluster: the peers take this replica's monitors and its incidents")) != 1 {
			t.Errorf("c did not say it handed over and left:\n%s", agents["c"].stderr.String())
		}
	}
	survivors := map[string]*agentProc{"a": agents["a"], "b": agents["b"]}
	waitFor(t, "the survivors to take c's incidents over", func() (bool, string) {
		adopted := 0.0
		for _, a := range survivors {
			m, err := a.metrics()
			if err != nil {
				return false, err.Error()
			}
			v, _ := m.value("cpra_cluster_handover_total", "result", "adopted")
			adopted += v
			if miss := m.expect(nil, "cpra_cluster_members", "==", 2, "state", "alive"); len(miss) > 0 {
				return false, strings.Join(miss, "; ")
			}
		}
		return adopted > 0, fmt.Sprintf("%v incidents taken over", adopted)
	})
	// Several intervals on the survivors: still down, and no new page.
	for _, a := range survivors {
		waitFor(t, "the survivors to check what they took over, still failing", func() (bool, string) {
			m, err := a.metrics()
			if err != nil {
				return false, err.Error()
			}
			miss := m.expect(nil, "cpra_monitors", ">=", 1, "state", "down")
			return len(miss) == 0, strings.Join(miss, "; ")
		})
	}
	total := 0.0
	for _, a := range survivors {
		m, _ := a.metrics()
		v, _ := m.value("cpra_monitors", "state", "down")
		total += v
	}
	if int(total) != len(bad) {
		t.Errorf("%v monitors down on the survivors, want the %d failing ones", total, len(bad))
	}
	for _, name := range bad {
		if got := hook.codes(name); !slices.Equal(got, []string{"yellow", "red"}) {
			t.Errorf("%s: codes %v across the kill, want one yellow and one red", name, got)
		}
	}

	// They recover: one green each, from whoever owns them now.
	for _, name := range bad {
		failing.Delete("/" + name)
	}
	waitFor(t, "one green for every recovered monitor", func() (bool, string) {
		for _, name := range bad {
			if got := hook.codes(name); !slices.Equal(got, []string{"yellow", "red", "green"}) {
				return false, fmt.Sprintf("%s: %v", name, got)
			}
		}
		return true, ""
	})
}

// TestClusterPartition freezes a replica (SIGSTOP) past the suspicion
// timeout, then resumes it: the survivors take its monitors and incidents
// over while it is frozen; once it is back the ring converges again, every
// monitor is checked by exactly one replica, and no failing monitor was
// paged twice.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	const n = 45
	var failing sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, bad := failing.Load(r.URL.Path); bad {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(target.Close)
	hook := newHookReceiver(t)
	dir := t.TempDir()
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf(`  - name: p-%03d
    metrics: true
    pulse_check: {type: http, interval: 500ms, timeout: 400ms, max_failures: 2, healthy_threshold: 1, config: {url: %q}}
    codes: {yellow: {notify: webhook, config: {url: %q}}, red: {notify: webhook, config: {url: %q}}}
`, i, fmt.Sprintf("%s/p-%03d", target.URL, i), hook.url, hook.url))
	}
	monitorFile := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitorFile, list...)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "cluster: {probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 2, gossip_interval: 50ms}\n")
	gossip := map[string]string{"a": clusterAddr(t, "127.0.0.1"), "b": clusterAddr(t, "127.0.0.2"), "c": clusterAddr(t, "127.0.0.3")}
	agents := map[string]*agentProc{}
	for _, r := range []string{"a", "b", "c"} {
		agents[r] = startAgent(t, "--config="+agentConfig, "--yaml="+monitorFile, "--storage.path="+filepath.Join(dir, r),
			"--cluster.name="+r, "--cluster.listen-address="+gossip[r], "--cluster.join="+gossip["a"])
	}
	alive := func(among map[string]*agentProc, want float64) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%v members alive everywhere", want), func() (bool, string) {
			for r, a := range among {
				m, err := a.metrics()
				if err != nil {
					return false, err.Error()
				}
				if miss := m.expect(nil, "cpra_cluster_members", "==", want, "state", "alive"); len(miss) > 0 {
					return false, r + ": " + strings.Join(miss, "; ")
				}
			}
			return true, ""
		})
	}
	exactlyOnce := func(what string) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			by, errText := checkedBy(t, agents)
			if errText != "" {
				return false, errText
			}
			for i := range n {
				if name := fmt.Sprintf("p-%03d", i); len(by[name]) != 1 {
					return false, fmt.Sprintf("%s checked by %v", name, by[name])
				}
			}
			return true, ""
		})
	}
	alive(agents, 3)
	var bad []string
	for i := 0; i < n; i += 3 {
		name := fmt.Sprintf("p-%03d", i)
		bad = append(bad, name)
		failing.Store("/"+name, true)
	}
	waitFor(t, "every failing monitor red", func() (bool, string) {
		for _, name := range bad {
			if got := hook.codes(name); !slices.Equal(got, []string{"yellow", "red"}) {
				return false, fmt.Sprintf("%s: %v", name, got)
			}
		}
		return true, ""
	})

	// c has sent its incidents to their successors since (the guarantee's
	// window: a replica frozen earlier loses its last 2 seconds).
	sent := func() float64 {
		m, err := agents["c"].metrics()
		if err != nil {
			return -1
		}
		v, _ := m.value("cpra_cluster_handover_total", "result", "sent")
		return v
	}
	base := sent()
	waitFor(t, "a replication round of c after the reds", func() (bool, string) {
		v := sent()
		return v >= base+4, fmt.Sprintf("%v messages sent, want %v", v, base+4)
	})

	// Frozen: the others declare it dead and take its share.
	if err := agents["c"].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	alive(map[string]*agentProc{"a": agents["a"], "b": agents["b"]}, 2)
	if err := agents["c"].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Back: it refutes its death, and the ring converges.
	alive(agents, 3)
	exactlyOnce("every monitor checked by exactly one replica after the partition healed")
	for _, name := range bad {
		if got := hook.codes(name); !slices.Equal(got, []string{"yellow", "red"}) {
			t.Errorf("%s: codes %v across the partition, want one yellow and one red", name, got)
		}
	}
}

// TestClusterInterventionsSpentCount: interventions a replica spent on its
// monitors count against their restart-loop guard on the replica that
// takes them over: a monitor allowed one intervention an hour, repaired in
// vain before a SIGKILL, is not repaired again by its new owner, even once
// the new owner's hold after the takeover has passed.
func TestClusterInterventionsSpentCount(t *testing.T) {
	t.Parallel()
	const n = 30
	var failing sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, bad := failing.Load(r.URL.Path); bad {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(target.Close)
	var mu sync.Mutex
	repairs := map[string]int{}
	remedy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Monitor string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		repairs[p.Monitor]++
		mu.Unlock()
	}))
	t.Cleanup(remedy.Close)
	repaired := func(name string) int { mu.Lock(); defer mu.Unlock(); return repairs[name] }
	dir := t.TempDir()
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf(`  - name: r-%03d
    pulse_check: {type: http, interval: 500ms, timeout: 400ms, max_failures: 2, healthy_threshold: 1, config: {url: %q}}
    intervention: {type: webhook, max_per_window: 1, window: 1h, config: {url: %q, body: '{"Monitor": "{{.Monitor}}"}'}}
`, i, fmt.Sprintf("%s/r-%03d", target.URL, i), remedy.URL))
	}
	monitorFile := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitorFile, list...)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "cluster: {probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 2, gossip_interval: 50ms}\n")
	gossip := map[string]string{"a": clusterAddr(t, "127.0.0.1"), "b": clusterAddr(t, "127.0.0.2"), "c": clusterAddr(t, "127.0.0.3")}
	agents := map[string]*agentProc{}
	for _, r := range []string{"a", "b", "c"} {
		agents[r] = startAgent(t, "--config="+agentConfig, "--yaml="+monitorFile, "--storage.path="+filepath.Join(dir, r),
			"--cluster.name="+r, "--cluster.listen-address="+gossip[r], "--cluster.join="+gossip["a"])
	}
	value := func(a *agentProc, name string, labels ...string) float64 {
		m, err := a.metrics()
		if err != nil {
			return -1
		}
		v, _ := m.value(name, labels...)
		return v
	}
	waitFor(t, "three members everywhere", func() (bool, string) {
		for r, a := range agents {
			if v := value(a, "cpra_cluster_members", "state", "alive"); v != 3 {
				return false, fmt.Sprintf("%s sees %v", r, v)
			}
		}
		return true, ""
	})
	var bad []string
	for i := 0; i < n; i += 2 {
		name := fmt.Sprintf("r-%03d", i)
		bad = append(bad, name)
		failing.Store("/"+name, true)
	}
	// Repaired once each, in vain: down, the guard spent.
	waitFor(t, "every failing monitor repaired once and down", func() (bool, string) {
		down := 0.0
		for _, a := range agents {
			down += value(a, "cpra_monitors", "state", "down")
		}
		for _, name := range bad {
			if repaired(name) != 1 {
				return false, fmt.Sprintf("%s repaired %d times", name, repaired(name))
			}
		}
		return down == float64(len(bad)), fmt.Sprintf("%v down", down)
	})
	base := value(agents["c"], "cpra_cluster_handover_total", "result", "sent")
	waitFor(t, "a replication round of c", func() (bool, string) {
		v := value(agents["c"], "cpra_cluster_handover_total", "result", "sent")
		return v >= base+4, fmt.Sprintf("%v sent", v)
	})
	agents["c"].waited.Store(true)
	if err := agents["c"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-agents["c"].done
	survivors := []*agentProc{agents["a"], agents["b"]}
	checks := func() float64 {
		total := 0.0
		for _, a := range survivors {
			total += value(a, "cpra_checks_total")
		}
		return total
	}
	waitFor(t, "the survivors to own every monitor", func() (bool, string) {
		owned := 0.0
		for _, a := range survivors {
			owned += value(a, "cpra_cluster_owned_monitors")
		}
		return owned == n, fmt.Sprintf("%v owned", owned)
	})
	// Long enough for a fresh start to have failed twice and waited out
	// the hold (2.6 s with these timings): every monitor checked 12 times.
	from := checks()
	waitFor(t, "twelve checks of every monitor on the survivors", func() (bool, string) {
		done := checks() - from
		return done >= 12*n, fmt.Sprintf("%v checks", done)
	})
	for _, name := range bad {
		if got := repaired(name); got != 1 {
			t.Errorf("%s repaired %d times across the takeover; its guard allowed one an hour", name, got)
		}
	}
}
