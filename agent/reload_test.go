package agent

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// TestReloadOnlyWhatChanged drives Agent.Reload over edits of a file:
// a change applies, a duplicate of a monitor that was not parsed again
// fails the reload and keeps the running configuration.
func TestReloadOnlyWhatChanged(t *testing.T) {
	def := func(name, port string) string {
		return "  - name: " + name + "\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:" + port + "/\"}}\n"
	}
	var mu sync.Mutex
	text := "monitors:\n" + def("a", "1") + def("b", "1")
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(text), nil }
	set := func(s string) { mu.Lock(); text = s; mu.Unlock() }
	a, ctx := startTestAgent(t, config.DefaultAgent(), read, nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	set("monitors:\n" + def("a", "1") + def("b", "2"))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := a.Lookup(ctx, "b"); !ok || v.Address != "http://127.0.0.1:2/" {
		t.Fatalf("b after the reload: %+v %v", v, ok)
	}

	set("monitors:\n" + def("a", "1") + def("b", "3") + def("a", "4"))
	err := a.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), `monitors.yaml:6: monitor "a": name: duplicate monitor name (first defined on line 2)`) {
		t.Fatalf("reload with a duplicate of a kept monitor: %v", err)
	}
	if got := testutil.ToFloat64(a.m.ReloadSuccessful); got != 0 {
		t.Fatalf("cpra_config_last_reload_successful = %v after a failed reload", got)
	}
	if v, _, _ := a.Lookup(ctx, "b"); v.Address != "http://127.0.0.1:2/" {
		t.Fatalf("a failed reload changed b: %+v", v)
	}
	if v, _, _ := a.Lookup(ctx, "a"); v.Address != "http://127.0.0.1:1/" {
		t.Fatalf("a failed reload changed a: %+v", v)
	}
}

// An emptied monitor file does not gray out the fleet: a reload that finds
// no monitors and no "monitors:" list is refused; "monitors: []" removes
// them all.
func TestEmptiedFileIsRefused(t *testing.T) {
	var mu sync.Mutex
	text := "monitors:\n  - name: a\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n"
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(text), nil }
	set := func(s string) { mu.Lock(); text = s; mu.Unlock() }
	a, ctx := startTestAgent(t, config.DefaultAgent(), read, nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, empty := range []string{"", "# nothing here\n", "monitors:\n"} {
		set(empty)
		err := a.Reload(ctx)
		if err == nil || !strings.Contains(err.Error(), `keeping the 1 running monitors. To remove them all, write "monitors: []"`) {
			t.Errorf("reload of %q: %v", empty, err)
		}
		if _, ok, _ := a.Lookup(ctx, "a"); !ok {
			t.Fatalf("reload of %q removed the running monitor", empty)
		}
	}
	set("monitors: []\n")
	if err := a.Reload(ctx); err != nil {
		t.Fatalf("monitors: []: %v", err)
	}
	if _, ok, _ := a.Lookup(ctx, "a"); ok {
		t.Error(`"monitors: []" kept the monitor`)
	}
}

// TestRejectedReloadCreatesNothing: a reload rejected for an error in
// another monitor opens none of the file's notifiers (no log file
// appears), and one whose notifier cannot be built (its file is a
// directory) is rejected naming the block, keeping what runs.
func TestRejectedReloadCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	codes := filepath.Join(dir, "codes.log")
	def := "  - name: a\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n"
	logged := func(file string) string {
		return "  - name: b\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/b\"}}\n" +
			"    codes: {red: {notify: log, config: {file: " + file + "}}}\n"
	}
	var mu sync.Mutex
	text := "monitors:\n" + def
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(text), nil }
	set := func(s string) { mu.Lock(); text = s; mu.Unlock() }
	a, ctx := startTestAgent(t, config.DefaultAgent(), read, nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	set("monitors:\n" + def + logged(codes) + "  - name: c\n    pulse_check: {type: nope}\n")
	if err := a.Reload(ctx); err == nil || !strings.Contains(err.Error(), `unknown check type "nope"`) {
		t.Fatalf("reload with an unknown type: %v", err)
	}
	if _, err := os.Stat(codes); !os.IsNotExist(err) {
		t.Fatalf("a rejected reload created %s (stat: %v)", codes, err)
	}

	set("monitors:\n" + def + logged(dir))
	err := a.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), `monitors.yaml:6: monitor "b": codes.red.config.file: cannot open: open `+dir+": is a directory") {
		t.Fatalf("reload with a log file that is a directory: %v", err)
	}
	if _, ok, _ := a.Lookup(ctx, "b"); ok {
		t.Fatal("a reload whose notifier failed to build applied its monitors")
	}

	set("monitors:\n" + def + logged(codes))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(codes); err != nil {
		t.Fatalf("an applied reload did not open its log file: %v", err)
	}
}
