// Package example is what the agent runs without --yaml: a small demo
// service on loopback that breaks on a schedule, and an embedded monitor
// file watching it, so that `make run` shows checks, failures,
// interventions and every colour code within a minute, offline.
package example
