// Package telemetry builds the agent's own observability: the Prometheus
// registry and every cpra_* metric family, the slog logger configured as
// Prometheus components do (--log.level, --log.format), and build
// information.
//
// There are no package-level metrics and no default registry: main builds
// one [Metrics] and passes it down, so tests can build their own.
package telemetry
