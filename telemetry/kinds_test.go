package telemetry_test

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/spec"
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
			// Each pipeline registers the same families under its name.
			for _, name := range []string{telemetry.PipelinePulse, telemetry.PipelineIntervention, telemetry.PipelineCode} {
				p, err := pipeline.New(pipeline.Config{Name: name, QueueCapacity: 8, MaxWorkers: 2},
					func(_ context.Context, j int) int { return j }, reg)
				if err != nil {
					return err
				}
				p.Close(context.Background(), true)
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
