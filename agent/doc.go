// Package agent is the agent's lifecycle: it loads the configuration,
// builds the world and the three pipelines, runs the owner goroutine that
// alone touches the world, serves the HTTP endpoints (/metrics, /probe,
// /-/healthy, /-/ready, POST /-/reload, the inbound Alertmanager webhook),
// reloads on SIGHUP or POST /-/reload, and drains everything on SIGTERM or
// SIGINT.
//
// The owner loop is the heart of the agent:
//
//	tick      -> world.Due        -> offerCheck: host breaker open? fail now;
//	                                 else pulse pipeline (refused = stays due)
//	results   -> world.Apply*     -> effects: codes to the dispatcher,
//	                                 remedies (behind their breakers) to the
//	                                 intervention pipeline; incident spans
//	control   -> reload, lookups, webhook alerts (run on the owner so the
//	             world has one owner)
//
// See docs/architecture.md for the whole path from file to alert, and
// docs/engine.md for the pipelines.
package agent
