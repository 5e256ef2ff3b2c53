package world

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// fleetMonitor is one monitor of a reload test's file; logFile sets its
// red notifier's configuration, so monitors can use distinct instances.
func fleetMonitor(name, url, interval, logFile string) string {
	return fmt.Sprintf(`  - name: %s
    pulse_check:
      type: http
      interval: %s
      config: {url: %q}
    codes:
      red: {notify: log, config: {file: %q}}
`, name, interval, url, logFile)
}

func fleetFile(monitors ...string) []byte {
	return []byte("monitors:\n" + strings.Join(monitors, ""))
}

// reload runs what Agent.Reload does, without the agent.
func reload(t *testing.T, w *World, data []byte, prev *config.Instances, now time.Time) (*config.Monitors, ApplyStats, error) {
	t.Helper()
	running := w.Running()
	ms, err := config.ParseChanges("m.yaml", data, kinds(t), prev, running.Sources)
	if err != nil {
		return nil, ApplyStats{}, err
	}
	if err := ms.Instances.Build(); err != nil {
		return nil, ApplyStats{}, err
	}
	kept := Kept{Entities: running.Entities, Lines: ms.Unchanged}
	if err := w.Conflicts("m.yaml", ms.Monitors, kept); err != nil {
		_ = ms.Instances.CloseUnused(context.Background(), prev)
		return nil, ApplyStats{}, err
	}
	var fx Effects
	st, carried := w.ApplyKept(ms.Monitors, ms.Instances, kept, now, &fx)
	for _, keys := range carried {
		ms.Instances.Adopt(prev, keys)
	}
	return ms, st, nil
}

// TestReloadParsesOnlyWhatChanged reloads a file in which one monitor
// changed, one is gone and one is new: only those two are parsed, the
// others keep their state and their instances without being parsed.
func TestReloadParsesOnlyWhatChanged(t *testing.T) {
	a := fleetMonitor("a", "http://127.0.0.1:1/a", "60s", "")
	b := fleetMonitor("b", "http://127.0.0.1:1/b", "60s", "")
	odd := fleetMonitor("odd", "http://127.0.0.1:1/odd", "30s", "/dev/null") // a profile of its own
	c := fleetMonitor("c", "http://127.0.0.1:1/c", "60s", "")
	gone := fleetMonitor("gone", "http://127.0.0.1:1/gone", "60s", "")
	first, err := config.ParseMonitors("m.yaml", fleetFile(a, b, odd, c, gone), kinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	applyParsed(t, w, first, t0, &fx)
	// "b" fails once: a kept monitor must keep that.
	now := t0.Add(61 * time.Second)
	for _, j := range runDue(w, now) {
		w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: pulse.Result{OK: fx0(w, "b") != j.Entity, Reason: "down"}}, now, &fx)
	}
	before, _ := w.Lookup("b")
	if before.State != incident.Degraded {
		t.Fatalf("b is %v before the reload, want degraded", before.State)
	}

	changed := fleetMonitor("c", "http://127.0.0.1:2/c", "60s", "")
	added := fleetMonitor("new", "http://127.0.0.1:1/new", "60s", "")
	// "a" moves down a line: its text, not its place, is compared.
	ms, st, err := reload(t, w, fleetFile("# moved\n", a, b, odd, changed, added), first.Instances, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Monitors) != 2 || ms.Monitors[0].Name != "c" || ms.Monitors[1].Name != "new" {
		t.Fatalf("parsed %d monitors (%v), want only the changed and the new one", len(ms.Monitors), names(ms.Monitors))
	}
	if st != (ApplyStats{Added: 1, Updated: 1, Unchanged: 3, Removed: 1}) {
		t.Fatalf("stats %+v", st)
	}
	lines := map[int32]bool{}
	for _, l := range ms.Unchanged {
		if l > 0 {
			lines[l] = true
		}
	}
	if len(lines) != 3 || !lines[3] || !lines[10] || !lines[17] {
		t.Fatalf("unchanged monitors found on lines %v, want 3, 10 and 17", lines)
	}
	if v, _ := w.Lookup("b"); v.State != incident.Degraded || v.Fails != before.Fails {
		t.Fatalf("kept monitor b: %+v, want its state before the reload %+v", v, before)
	}
	if v, _ := w.Lookup("c"); v.Address != "http://127.0.0.1:2/c" {
		t.Fatalf("changed monitor c has address %q", v.Address)
	}
	if _, ok := w.Lookup("gone"); ok {
		t.Fatal("a monitor gone from the file is still there")
	}
	// "odd" was not parsed and no parsed monitor shares its profile: its
	// notifier must still be in the new configuration, not closed with
	// the old one's leftovers.
	if got := len(ms.Instances.Notifiers()); got != 2 {
		t.Fatalf("the reloaded configuration holds %d notifiers, want 2 (the parsed monitors' and odd's)", got)
	}
	if v, _ := w.Lookup("odd"); v.State != incident.Healthy {
		t.Fatalf("odd: %+v", v)
	}

	// A reload that changes nothing parses nothing.
	again, st, err := reload(t, w, fleetFile("# moved\n", a, b, odd, changed, added), ms.Instances, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Monitors) != 0 || st != (ApplyStats{Unchanged: 5}) {
		t.Fatalf("an unchanged file parsed %d monitors, stats %+v", len(again.Monitors), st)
	}
}

// TestReloadFindsDuplicatesOfKeptMonitors: a kept monitor's name is not
// parsed, so a new monitor of the same name (or a copy of its text) is
// found by the world, and the reload fails with the running configuration
// in place.
func TestReloadFindsDuplicatesOfKeptMonitors(t *testing.T) {
	a := fleetMonitor("a", "http://127.0.0.1:1/a", "60s", "")
	b := fleetMonitor("b", "http://127.0.0.1:1/b", "60s", "")
	first, err := config.ParseMonitors("m.yaml", fleetFile(a, b), kinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	applyParsed(t, w, first, t0, &fx)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"another definition", fleetFile(a, b, fleetMonitor("a", "http://127.0.0.1:9/", "60s", "")),
			`m.yaml:16: monitor "a": name: duplicate monitor name (first defined on line 2)`},
		{"a copy of the text", fleetFile(a, b, a),
			`m.yaml:16: monitor "a": name: duplicate monitor name (first defined on line 2)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := reload(t, w, tc.data, first.Instances, t0)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
			if w.Len() != 2 {
				t.Fatalf("a failed reload changed the world: %d monitors", w.Len())
			}
		})
	}
}

// TestReloadWithMetricGroupsParsesAll: with `metrics.groups` a monitor's
// opt-in depends on the other monitors' groups being used, so every
// monitor is parsed again.
func TestReloadWithMetricGroupsParsesAll(t *testing.T) {
	a := fleetMonitor("a", "http://127.0.0.1:1/a", "60s", "")
	b := strings.Replace(fleetMonitor("b", "http://127.0.0.1:1/b", "60s", ""), "    pulse_check:", "    groups: [g]\n    pulse_check:", 1)
	data := append(fleetFile(a, b), "metrics: {groups: [g]}\n"...)
	first, err := config.ParseMonitors("m.yaml", data, kinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	applyParsed(t, w, first, t0, &fx)
	ms, st, err := reload(t, w, data, first.Instances, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Monitors) != 2 || st != (ApplyStats{Unchanged: 2}) {
		t.Fatalf("parsed %d, stats %+v; want both parsed and unchanged", len(ms.Monitors), st)
	}
}

func names(ms []config.Monitor) []string {
	out := make([]string, len(ms))
	for i := range ms {
		out[i] = ms[i].Name
	}
	return out
}
