package owner

import (
	"log/slog"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// pipelineConfig turns a pipeline's configuration into the engine's.
func pipelineConfig(name string, c config.Pipeline, log *slog.Logger, tracing *telemetry.Tracing) pipeline.Config {
	return pipeline.Config{
		Name:          name,
		QueueCapacity: c.Queue.Capacity,
		HighWater:     c.Queue.HighWater,
		LowWater:      c.Queue.LowWater,
		MinWorkers:    c.Workers.Min,
		MaxWorkers:    c.Workers.Max,
		Sizing: pipeline.Sizing{
			SLO: c.Sizing.SLO, Quantile: c.Sizing.Quantile,
			Headroom: c.Sizing.Headroom, Interval: c.Sizing.Interval,
		},
		Log:     log.With("component", "sizing"),
		Tracing: tracing,
	}
}

func breakerConfig(c config.Pipeline) breaker.Config {
	return breaker.Config{
		FailureThreshold: c.Breaker.FailureThreshold,
		OpenTimeout:      c.Breaker.OpenTimeout,
		HalfOpenRequests: c.Breaker.HalfOpenRequests,
	}
}
