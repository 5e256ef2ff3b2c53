package kind

import (
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/hostconns"
)

// Deps are what a kind's New receives.
type Deps struct {
	// Logger is the kind's logger, tagged with its kind and name.
	Logger *slog.Logger
	// Registerer takes the kind's own series; they appear on /metrics. New
	// is called once per distinct configuration block, so a kind registers
	// its families once (sync.Once in its package, or by taking
	// prometheus.AlreadyRegisteredError's ExistingCollector).
	Registerer prometheus.Registerer
	// Clock is where time comes from, for what time decides.
	Clock clock.Clock
	// Stdout is the agent's standard output (the log notifier's `file: ""`).
	Stdout io.Writer
	// HostConns holds the agent's per-host connection limits, shared by
	// every check kind that opens connections to hosts.
	HostConns *hostconns.Limits
}

// WithDefaults fills what d leaves unset: a logger that discards, a
// registry of its own, the wall clock, os.Stdout, default per-host
// connection limits. Tests build kinds with Deps{} and get these.
func (d Deps) WithDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	if d.Clock == nil {
		d.Clock = clock.Real
	}
	if d.Stdout == nil {
		d.Stdout = os.Stdout
	}
	if d.HostConns == nil {
		// The default configuration is always valid.
		d.HostConns, _ = hostconns.New(hostconns.Config{Clock: d.Clock}, d.Registerer)
	}
	return d
}
