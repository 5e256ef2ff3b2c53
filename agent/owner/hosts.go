package owner

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// hostBreakers are the pulse pipeline's per-host breakers. They belong to
// the owner goroutine: it asks them before handing out a check and tells
// them each outcome as it applies it. Only the state gauges are read from
// another goroutine (the scrape), from a copy kept under a lock and
// changed on transitions, which are rare.
type hostBreakers struct {
	*breaker.Hosts
	series *pipeline.BreakerSeries
	log    *slog.Logger

	// Transitions waiting for the owner to turn them into codes.
	pending []breaker.Transition

	mu     sync.Mutex
	states map[string]breaker.State // for the scrape
}

func newHostBreakers(c config.Breaker, reg prometheus.Registerer, log *slog.Logger, tracing *telemetry.Tracing) (*hostBreakers, error) {
	hb := &hostBreakers{log: log.With("pipeline", telemetry.PipelinePulse), states: map[string]breaker.State{}}
	cfg := breaker.HostConfig{
		MinFailures: c.FailureThreshold, FailureRatio: c.FailureRatio, Window: c.Window,
		OpenTimeout: c.OpenTimeout, HalfOpenRequests: c.HalfOpenRequests,
	}
	hosts, err := breaker.NewHosts(cfg, func(tr breaker.Transition) {
		hb.series.Transition(tr)
		tracing.Event("breaker "+tr.To.String(),
			attribute.String("cpra.pipeline", telemetry.PipelinePulse), attribute.String("cpra.destination", tr.Destination),
			attribute.String("cpra.breaker.from", tr.From.String()), attribute.String("cpra.breaker.to", tr.To.String()),
			attribute.Int("cpra.breaker.failure_threshold", cfg.MinFailures),
			attribute.Float64("cpra.breaker.failure_ratio", cfg.FailureRatio),
			attribute.Float64("cpra.breaker.open_timeout_seconds", cfg.OpenTimeout.Seconds()))
		hb.mu.Lock()
		if tr.To == breaker.Closed {
			delete(hb.states, tr.Destination)
		} else {
			hb.states[tr.Destination] = tr.To
		}
		hb.mu.Unlock()
		hb.pending = append(hb.pending, tr)
	})
	if err != nil {
		return nil, err
	}
	hb.Hosts = hosts
	hb.series, err = pipeline.NewBreakerSeries(reg, telemetry.PipelinePulse, func(f func(string, breaker.State)) {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		for dest, st := range hb.states {
			f(dest, st)
		}
	})
	if err != nil {
		return nil, err
	}
	return hb, nil
}

// Rejected counts a check not run because its host's breaker is open.
func (hb *hostBreakers) Rejected(host string) { hb.series.Rejected(host) }

// flushHosts turns the breakers' transitions into host-level codes: red
// once when a host's breaker opens (naming the host, the evidence and how
// many monitors sit behind it, which are then not checked, and keep their
// state, until it answers again), green when it closes. Each goes to the
// receivers of those monitors' red codes, each receiver once.
func (o *Owner) flushHosts(now time.Time) {
	hb := o.hosts
	for _, tr := range hb.pending {
		host := tr.Destination
		switch {
		case tr.To == breaker.Open && tr.From == breaker.Closed:
			checks, failures := hb.Evidence(host)
			n, notifiers := o.world.HostMonitors(host)
			cfg := hb.Config()
			msg := fmt.Sprintf("host %s unreachable: %d of its last %d checks within %v got no answer from the host; its %d monitors are not checked until a trial check every %v gets one",
				host, failures, checks, cfg.Window, n, cfg.OpenTimeout)
			hb.log.Warn("circuit breaker opened: host down", "destination", host, "failures", failures, "checks", checks, "monitors", n, "retry_in", cfg.OpenTimeout)
			o.codePath.HostDown(host, msg, notifiers, now)
		case tr.To == breaker.Closed:
			hb.log.Info("circuit breaker closed: host answers again", "destination", host)
			o.codePath.HostUp(host, now)
		case tr.To == breaker.HalfOpen:
			hb.log.Info("circuit breaker half-open: one trial check of the host", "destination", host)
		}
	}
	clear(hb.pending)
	hb.pending = hb.pending[:0]
}
