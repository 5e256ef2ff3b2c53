package owner

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// newTestOwner builds an owner whose loop does not run: the test goroutine
// is the owner and calls its methods directly, at the times it chooses.
func newTestOwner(t testing.TB, tracing *telemetry.Tracing, options ...func(*config.Agent)) *Owner {
	t.Helper()
	cfg := config.DefaultAgent()
	cfg.Storage.Path = t.TempDir()
	for _, set := range options {
		set(&cfg)
	}
	o, err := New(cfg, telemetry.NewMetrics(), tracing, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.shutdown(); err != nil {
			t.Error(err)
		}
	})
	return o
}

// startOwner runs an owner's loop until the test ends.
func startOwner(t *testing.T, cfg config.Agent) (*Owner, context.Context) {
	t.Helper()
	if cfg.Storage.Path == config.DefaultAgent().Storage.Path {
		cfg.Storage.Path = t.TempDir()
	}
	o, err := New(cfg, telemetry.NewMetrics(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return o, ctx
}

// parse parses a whole monitor file and builds its instances; its notifiers are closed
// when the test ends.
func parse(t testing.TB, text string) *config.Monitors {
	t.Helper()
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(),
		kind.Deps{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := config.ParseMonitors("monitors.yaml", []byte(text), kinds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Instances.Build(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Instances.CloseUnused(context.Background(), nil) })
	return ms
}

// applyAt makes a non-running owner's monitors those of text, at now.
func applyAt(t *testing.T, o *Owner, text string, now time.Time) {
	t.Helper()
	ms := parse(t, text)
	if _, _, err := o.apply(ms, world.Kept{}, now); err != nil {
		t.Fatal(err)
	}
}

// takeDue hands out the next due check of a non-running owner, as the
// scheduler would, and fails the test when none is due before at.
func takeDue(t *testing.T, o *Owner, at time.Time) world.CheckJob {
	t.Helper()
	var job world.CheckJob
	o.world.Offer(at, func(j world.CheckJob) world.OfferResult {
		if job.Due != 0 {
			return world.Refused
		}
		job = j
		return world.Accepted
	})
	if job.Due == 0 {
		t.Fatal("no check was due: the test would exercise nothing")
	}
	return job
}

// outcome is what a worker would return for job.
func outcome(job world.CheckJob, ok bool, started time.Time) world.CheckOutcome {
	r := pulse.Result{OK: ok}
	if !ok {
		r.Reason = "HTTP 503"
	}
	return world.CheckOutcome{Entity: job.Entity, Due: job.Due, Type: job.Type, Address: job.Target.Address,
		Result: r, Started: started, Duration: time.Millisecond}
}

// tracer records spans in memory, synchronously.
func tracer(t *testing.T) (*telemetry.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tracing, err := telemetry.NewTracing(context.Background(), func(string) string { return "" },
		telemetry.TracingOptions{Exporter: exp, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	return tracing, exp
}

// roots are the incident root spans written so far, by name.
func roots(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "incident "+name {
			out = append(out, s)
		}
	}
	return out
}
