package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/example"
	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// TestBuiltAgentMatchesTheCatalogue gathers the registry of an agent built
// as Main builds it (every kind given the agent's registerer, the embedded
// example loaded and checked) and checks that every family it exposes is
// in the golden catalogue, telemetry/testdata/metrics.txt: a family a kind
// registers on its own is a reviewed change of that file too.
func TestBuiltAgentMatchesTheCatalogue(t *testing.T) {
	data, err := os.ReadFile("../telemetry/testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	catalogued := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			catalogued[name] = true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	demo, err := example.Start(ctx, example.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	defer demo.Close()
	m := telemetry.NewMetrics()
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(),
		kind.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: m.Registry, Clock: clock.Real, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultAgent()
	cfg.Storage.Path = t.TempDir()
	a, err := New(cfg, kinds, Source{Name: "example", Read: func() ([]byte, error) { return example.Monitors(demo.Addr), nil }},
		m, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := a.Reload(runCtx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the example's first checks", func() bool {
		families, _ := m.Registry.Gather()
		for _, f := range families {
			if f.GetName() == "cpra_checks_total" {
				return true
			}
		}
		return false
	})
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if !catalogued[name] {
			t.Errorf("the built agent exposes %s, which is not in telemetry/testdata/metrics.txt", name)
		}
	}
}
