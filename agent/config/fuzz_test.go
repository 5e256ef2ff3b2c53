package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// FuzzParseMonitors: any monitor file is either loaded, every monitor
// within the documented bounds, or refused with errors that each name the
// file; never a panic.
func FuzzParseMonitors(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		// Not the files naming a log file: the log notifier creates its
		// file at load, and mutated paths would litter the machine.
		if data, err := os.ReadFile(name); err == nil && !strings.Contains(string(data), "file:") {
			f.Add(data)
		}
	}
	f.Add([]byte("monitors: []\n"))
	kinds := testKinds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := config.ParseMonitors("m.yaml", data, kinds, nil)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "m.yaml") {
					t.Fatalf("an error line that does not name the file: %q", line)
				}
			}
			if len(err.Error()) > 1<<20 {
				t.Fatalf("an error of %d bytes", len(err.Error()))
			}
			return
		}
		defer func() { _ = ms.Instances.CloseUnused(context.Background(), nil) }()
		for _, m := range ms.Monitors {
			if m.Name == "" || m.Pulse.Interval < config.MinInterval || m.Pulse.Timeout < config.MinTimeout || m.Pulse.Timeout > m.Pulse.Interval {
				t.Fatalf("loaded a monitor outside the bounds: %q interval %v timeout %v", m.Name, m.Pulse.Interval, m.Pulse.Timeout)
			}
		}
	})
}

// FuzzLoadAgent: any agent configuration file either loads into a
// configuration that validates, or is refused with errors naming the
// agent config; never a panic.
func FuzzLoadAgent(f *testing.F) {
	f.Add([]byte("shutdown_timeout: 10s\nweb: {listen_address: \"127.0.0.1:9469\"}\n"))
	f.Add([]byte("pipelines:\n  pulse:\n    workers: {min: 2, max: 4}\n    sizing: {slo: 50ms, quantile: 0.9, headroom: 0.2, interval: 5s}\n"))
	f.Add([]byte("storage: {path: /tmp/x, interval: 0s}\nshard: {count: 2, index: 3}\n"))
	f.Add([]byte("codes: {initial_backoff: 2s, max_backoff: 1s}\nlog: {level: loud}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fl := config.NewFlags("cpra-agent")
		if err := fl.Set.Parse([]string{"--config=" + path}); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.LoadAgent(fl, nil)
		if err != nil {
			if !strings.Contains(err.Error(), "agent config") {
				t.Fatalf("an error that does not say where: %v", err)
			}
			return
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			t.Fatalf("loaded a configuration that does not validate: %v", errors.Join(errs...))
		}
	})
}
