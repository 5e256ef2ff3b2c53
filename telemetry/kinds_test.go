package telemetry_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/agent/cluster"
	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/hostconns"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/httpcheck"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// The families kinds register on their own, for the catalogue.
func init() {
	telemetry.KindFamilies = append(telemetry.KindFamilies,
		func(reg prometheus.Registerer) error {
			_, err := hostconns.New(hostconns.Config{}, reg)
			return err
		},
		func(reg prometheus.Registerer) error {
			// A cluster of one on loopback, and its ownership series.
			cl, err := cluster.Start(config.Cluster{ListenAddress: "127.0.0.1:0", Name: "catalogue", ProbeInterval: time.Second,
				ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4, GossipInterval: 200 * time.Millisecond}, slog.New(slog.DiscardHandler), reg)
			if err != nil {
				return err
			}
			if err := cl.Shutdown(); err != nil {
				return err
			}
			_, err = cluster.NewOwnershipSeries(reg, func() int { return 0 })
			return err
		},
		func(reg prometheus.Registerer) error {
			// The code pipeline's dispatcher registers its families, its
			// pipeline's and its breakers'.
			d, err := code.NewDispatcher(pipeline.Config{QueueCapacity: 8, MaxWorkers: 2}, code.RetryPolicy{},
				breaker.Config{FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenRequests: 1}, reg, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			d.InitSeries([]string{"log"})
			if err := d.Close(context.Background()); err != nil {
				return err
			}
			// Each other pipeline registers the same families under its name.
			for _, name := range []string{telemetry.PipelinePulse, telemetry.PipelineIntervention} {
				p, err := pipeline.New(pipeline.Config{Name: name, QueueCapacity: 8, MaxWorkers: 2},
					func(_ context.Context, j int) int { return j }, reg)
				if err != nil {
					return err
				}
				p.Close(context.Background(), true)
				// And its breakers: one destination open, one transition
				// and one refused call, so every family has a series.
				b, err := pipeline.NewBreakerSeries(reg, name, func(f func(string, breaker.State)) { f("example.test:80", breaker.Open) })
				if err != nil {
					return err
				}
				b.Transition(breaker.Transition{Destination: "example.test:80", From: breaker.Closed, To: breaker.Open})
				b.Rejected("example.test:80")
			}
			return nil
		},
		func(reg prometheus.Registerer) error {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte("url: http://127.0.0.1/"), &doc); err != nil {
				return err
			}
			_, _, err := httpcheck.Kind.New(spec.Block{Node: doc.Content[0]}, kind.Deps{Registerer: reg})
			return err
		},
	)
}
