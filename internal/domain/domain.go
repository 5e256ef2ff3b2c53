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

// About is the kind of subject a code is about. Subjects of different
// kinds never share a key, whatever their names: a monitor named
// "host:10.0.0.1" is not that host, and an alert relayed from Alertmanager
// named "api" is not the monitor api.
type About uint8

const (
	AboutMonitor About = iota // a monitor of this agent: Monitor is its name
	AboutHost                 // a host whose breaker opened: Monitor is "host:" and the host
	AboutAlert                // an alert relayed from Alertmanager: Monitor is its alertname
)

var aboutNames = [...]string{"monitor", "host", "alert"}

func (a About) String() string {
	if int(a) < len(aboutNames) {
		return aboutNames[a]
	}
	return "unknown"
}

// AboutNamed parses About.String.
func AboutNamed(s string) (About, bool) {
	for i, n := range aboutNames {
		if n == s {
			return About(i), true
		}
	}
	return 0, false
}

// Subject is what a code is about, the key of everything kept per subject
// (incidents, what receivers hold, the order of deliveries).
type Subject struct {
	About About
	Name  string
}

func (s Subject) String() string {
	if s.About == AboutMonitor {
		return s.Name
	}
	return s.About.String() + " " + s.Name
}

// Notification is one code for one subject: a monitor, a host, a relayed
// alert.
type Notification struct {
	Time time.Time
	// Monitor names the subject: the monitor's name for a monitor (the
	// `monitor` field and label of every receiver).
	Monitor string
	About   About // what Monitor names
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

// Subject is what n is about.
func (n Notification) Subject() Subject { return Subject{About: n.About, Name: n.Monitor} }

// Firing reports whether the code raises an alert (yellow, red, cyan).
func (c Code) Firing() bool { return c.Severity() != "" }

// TraceID is the incident's trace ID in hex, or "" without one.
func (n Notification) TraceID() string {
	if !n.Trace.IsValid() {
		return ""
	}
	return n.Trace.TraceID().String()
}
