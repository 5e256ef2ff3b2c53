// Package agent is the agent's lifecycle: it loads the configuration,
// builds the world and the three pipelines, runs the owner goroutine that
// alone touches the world, serves the HTTP endpoints, reloads on SIGHUP or
// POST /-/reload, and drains everything on SIGTERM or SIGINT.
//
// The owner loop is the heart of the agent:
//
//	tick      -> world.Due        -> pulse pipeline (TrySubmit; full = defer)
//	results   -> world.Apply*     -> effects: codes to the dispatcher,
//	                                 remedies to the intervention pipeline
//	control   -> reload, lookups  (run on the owner so the world has one owner)
//
// See docs/architecture.md for the whole path from file to alert.
package agent
