package telemetry_test

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
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
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte("url: http://127.0.0.1/"), &doc); err != nil {
				return err
			}
			_, _, err := httpcheck.Kind.New(spec.Block{Node: doc.Content[0]}, kind.Deps{Registerer: reg})
			return err
		},
	)
}
