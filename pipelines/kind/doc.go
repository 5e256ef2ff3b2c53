// Package kind is what the agent hands every kind of check, intervention
// and notifier when it builds one: a logger, a Prometheus registerer for
// series of the kind's own, a clock, and standard output. A new kind that
// wants its own metrics registers them here, in its own package, instead
// of editing telemetry.
package kind
