package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// testKinds are the built-in kinds, with notifiers writing to stdout.
func testKinds(t *testing.T, stdout io.Writer) *config.Kinds {
	t.Helper()
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(),
		kind.Deps{Logger: slog.New(slog.DiscardHandler), Stdout: stdout})
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// startTestAgent builds an in-process agent reading its monitor file from
// read, and runs its owner loop until the test ends (checking that it
// stops cleanly). It does not load the file: callers Reload when ready.
func startTestAgent(t *testing.T, cfg config.Agent, read func() ([]byte, error), tracing *telemetry.Tracing, stdout io.Writer) (*Agent, context.Context) {
	t.Helper()
	if cfg.Storage.Path == config.DefaultAgent().Storage.Path {
		cfg.Storage.Path = t.TempDir() // never the package directory
	}
	a, err := New(cfg, testKinds(t, stdout), Source{Name: "monitors.yaml", Read: read},
		telemetry.NewMetrics(), tracing, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return a, ctx
}

// fixed returns a monitor-file reader that always reads text.
func fixed(text string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(text), nil }
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}
