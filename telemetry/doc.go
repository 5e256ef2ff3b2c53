// Package telemetry builds the agent's own observability: the Prometheus
// registry and every cpra_* metric family (golden catalogue in
// testdata/metrics.txt), collectors computed at scrape time for queues,
// pools, breakers and per-monitor series, OpenTelemetry tracing configured
// from the OTEL_* variables (tracing.go: one trace per incident, a sampler
// that always keeps incidents and engine events), the slog logger
// configured as Prometheus components do (--log.level, --log.format), and
// build information.
//
// There are no package-level metrics and no default registry: main builds
// one [Metrics] and passes it down, so tests can build their own.
package telemetry
