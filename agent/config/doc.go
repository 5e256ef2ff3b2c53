// Package config loads the agent's two kinds of configuration.
//
// The monitor file (--yaml) lists the monitors in the seed-compatible
// format: each with a pulse_check, an optional intervention and the codes
// it sends. [ParseMonitors] validates the whole file against the registered
// [Kinds], applies the defaults (interval 30s, timeout 5s but never longer
// than the interval, max_failures 3, healthy_threshold 2, at most 3
// interventions an hour) and names each block's shared instance by key:
// monitors whose check differs only in its address share one Prober, and
// identical remedy or notifier blocks share one Remedy or Notifier. Parsing
// is pure: it produces plain values and the kinds' validated settings, and
// opens, creates, starts and registers nothing, so --config.check and a
// rejected reload leave no trace. [Instances.Build] then makes the
// instances live; only a load that will run calls it. A reload passes the
// running [Instances] so that unchanged instances are kept, not rebuilt.
//
// The files: model.go (what a load produces), load.go (cutting the file
// into monitors, parallel parsing, what a reload skips), validate.go (the
// generic fields; badfields.go tracks the fields that failed to decode),
// instances.go (the shared instances, parsed once and built once).
// Besides `monitors:`, the file may have two top-level sections:
// `metrics:` (groups whose monitors get per-monitor series) and
// `alertmanager_webhook:` (the default route of alerts received from
// Alertmanager, [WebhookRoutes]).
// Unknown keys are errors, and every problem is reported at once, each an
// [*Error] naming the file, the line, the monitor and the field:
//
//	monitors.yaml:12: monitor "api": pulse_check.config.url: required
//
// The agent configuration ([Agent]) sizes and wires the agent itself. It
// is read with koanf from the defaults, then the --config file, then CPRA_*
// environment variables ([EnvName]), then the flags of [NewFlags], each
// overriding the one before. [LoadAgent] reports unknown keys and
// variables and invalid values together, each naming its key and where its
// value came from.
//
// The testdata directory holds monitor files that must load (good-*.yaml)
// and files that must not (bad-*.yaml), each with its exact errors in
// bad-*.yaml.err; `go test ./agent/config -run TestBadFiles -update`
// rewrites those after a deliberate change to a message.
package config
