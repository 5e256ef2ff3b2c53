// Package contracts holds tests that check what the repository ships besides the
// agent (Grafana dashboards, and later alerting rules and the Helm chart) against
// the agent's public interface: its metric catalogue
// (telemetry/testdata/metrics.txt), flags and endpoints.
//
// It is a module of its own so that the dependencies these checks need (the
// PromQL parser, Kubernetes API types) never become dependencies of the agent.
// Run it from this directory:
//
//	go test ./...
//
// One file per topic: catalogue_test.go reads the metric catalogue and checks
// PromQL against it, dashboards_test.go checks dashboards/*.json,
// architecture_test.go checks that the README and docs/*.md cite only
// paths and Go names that exist.
package contracts
