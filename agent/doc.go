// Package agent is the agent's lifecycle and nothing more: Main parses the
// flags and the agent configuration, builds the telemetry, the owner and
// the HTTP endpoints (/metrics, /probe, /-/healthy, /-/ready, POST
// /-/reload, the inbound Alertmanager webhook), applies the monitor file,
// reloads it on SIGHUP or POST /-/reload, and drains everything on SIGTERM
// or SIGINT.
//
// Where the work happens:
//
//	agent/config     the agent configuration and the monitor file
//	agent/owner      the one goroutine that owns the monitors: schedule,
//	                 breakers, outcomes, codes and remedies, incidents
//	agent/world      the monitors themselves and their state machine
//	agent/amwebhook  POST /api/v1/alertmanager/webhook
//	pipelines/...    the queues, worker pools and kinds of checks,
//	                 interventions and notifiers
//
// A reload reads and parses the file here (only what changed, see
// config.ParseChanges) and hands the result to the owner, which applies
// it between its other work. See docs/architecture.md for the whole path
// from file to alert, and docs/engine.md for the pipelines.
package agent
