package pipeline

import (
	"log/slog"

	"go.opentelemetry.io/otel/attribute"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Breakers is a pipeline's per-destination circuit breakers, wired to the
// cpra_breaker_* metrics and to the log.
type Breakers struct {
	*breaker.Set
	series *BreakerSeries
}

// NewBreakers builds the breaker set of pipeline name: transitions are
// counted and logged (warn on open, info on close), and the states of
// destinations with failures on record are exported at scrape time.
func NewBreakers(name string, cfg breaker.Config, reg prometheus.Registerer, log *slog.Logger, tracing *telemetry.Tracing) (*Breakers, error) {
	log = log.With("pipeline", name)
	if tracing == nil {
		tracing = &telemetry.Tracing{}
	}
	b := &Breakers{}
	set, err := breaker.NewSet(cfg, func(tr breaker.Transition) {
		b.series.Transition(tr)
		tracing.Event("breaker "+tr.To.String(),
			attribute.String("cpra.pipeline", name), attribute.String("cpra.destination", tr.Destination),
			attribute.String("cpra.breaker.from", tr.From.String()), attribute.String("cpra.breaker.to", tr.To.String()),
			attribute.Int("cpra.breaker.failure_threshold", cfg.FailureThreshold),
			attribute.Float64("cpra.breaker.open_timeout_seconds", cfg.OpenTimeout.Seconds()))
		switch tr.To {
		case breaker.Open:
			log.Warn("circuit breaker opened", "destination", tr.Destination, "from", tr.From.String(),
				"failure_threshold", cfg.FailureThreshold, "retry_in", cfg.OpenTimeout)
		case breaker.HalfOpen:
			log.Info("circuit breaker half-open: trying the destination again", "destination", tr.Destination)
		case breaker.Closed:
			log.Info("circuit breaker closed: destination recovered", "destination", tr.Destination)
		}
	})
	if err != nil {
		return nil, err
	}
	b.Set = set
	if b.series, err = NewBreakerSeries(reg, name, set.Each); err != nil {
		return nil, err
	}
	return b, nil
}

// Rejected counts a call not made because dest's breaker is open.
func (b *Breakers) Rejected(dest string) { b.series.Rejected(dest) }
