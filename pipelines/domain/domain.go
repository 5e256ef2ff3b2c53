package domain

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Code is an alert colour.
type Code uint8

// The colour codes, in the order of the configuration file's documentation.
const (
	Yellow Code = iota + 1 // degraded: first failure of a healthy monitor
	Red                    // down
	Cyan                   // remediated, verifying
	Green                  // recovered / resolved
	Gray                   // maintenance
)

// All lists every code.
var All = []Code{Yellow, Red, Cyan, Green, Gray}

func (c Code) String() string {
	switch c {
	case Yellow:
		return "yellow"
	case Red:
		return "red"
	case Cyan:
		return "cyan"
	case Green:
		return "green"
	case Gray:
		return "gray"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// CodeNamed returns the code whose String is name.
func CodeNamed(name string) (Code, bool) {
	for _, c := range All {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// Severity is the Alertmanager severity of a firing code: red=critical,
// yellow=warning, cyan=info. Green and gray resolve and have none.
func (c Code) Severity() string {
	switch c {
	case Red:
		return "critical"
	case Yellow:
		return "warning"
	case Cyan:
		return "info"
	}
	return ""
}

// Resolves reports whether the code ends an incident (green, gray).
func (c Code) Resolves() bool { return c == Green || c == Gray }

// Fired is a firing code a receiver was sent earlier.
type Fired struct {
	Code Code
	At   time.Time // the Time of the notification that carried it
}

// Notification is one code for one monitor.
type Notification struct {
	Time    time.Time
	Monitor string
	Code    Code
	// State is the monitor's incident state after the transition, e.g.
	// "down"; empty for codes about no monitor of this agent (a host, an
	// alert relayed from Alertmanager's default route).
	State   string
	Message string   // human-readable cause, e.g. "3 consecutive failures: status 503"
	Groups  []string // the monitor's groups
	// Labels are extra labels attached by the agent (for example the shard).
	Labels map[string]string
	// Incident is the ID of the monitor's incident the code belongs to; 0
	// for codes outside one.
	Incident uint64
	// Replaces is, for receivers that keep a firing alert until it is
	// resolved (Alertmanager), the firing code this receiver holds for the
	// monitor, which this notification ends or replaces; zero when none.
	Replaces Fired
	// Resend marks a firing code sent again unchanged, so the receiver
	// keeps it active; it is not a new transition.
	Resend bool
	// Trace is the monitor's incident trace (invalid when tracing is off):
	// deliveries are spans in it, and notifiers pass its ID on (payload
	// field, annotation) so a receiver can jump from the alert to the trace.
	Trace trace.SpanContext
}

// Firing reports whether the code raises an alert (yellow, red, cyan).
func (c Code) Firing() bool { return c.Severity() != "" }

// TraceID is the incident's trace ID in hex, or "" without one.
func (n Notification) TraceID() string {
	if !n.Trace.IsValid() {
		return ""
	}
	return n.Trace.TraceID().String()
}
