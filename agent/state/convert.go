package state

import (
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/internal/domain"
)

// NameHash is the hash of a monitor's name in File.Enabled: FNV-1a, 64
// bits, computed without allocating (a snapshot hashes every name).
func NameHash(name string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime
	}
	return h
}

// FromStatus stores a monitor's status.
func FromStatus(name string, st incident.Status) Monitor {
	return Monitor{Name: name, State: st.State.String(), Fails: st.Fails, Successes: st.Successes,
		Guarded: st.Guarded, Interventions: st.Interventions, WindowStart: st.WindowStart}
}

// Status is the stored status, or an error naming what does not parse.
func (m Monitor) Status() (incident.Status, error) {
	st := incident.Status{Fails: m.Fails, Successes: m.Successes, Guarded: m.Guarded,
		Interventions: m.Interventions, WindowStart: m.WindowStart}
	for s := range incident.NumStates {
		if s.String() == m.State {
			st.State = s
			return st, nil
		}
	}
	return st, fmt.Errorf("monitor %q: unknown state %q", m.Name, m.State)
}

// FromNotification stores a notification.
func FromNotification(n domain.Notification) Notification {
	out := Notification{Time: n.Time, Monitor: n.Monitor, Code: n.Code.String(), State: n.State, Message: n.Message,
		Groups: n.Groups, Labels: n.Labels, Incident: n.Incident}
	if n.About != domain.AboutMonitor {
		out.About = n.About.String()
	}
	if n.Replaces.Code != 0 {
		out.ReplacesCode, out.ReplacesAt = n.Replaces.Code.String(), n.Replaces.At
	}
	if n.Trace.IsValid() {
		out.TraceID, out.SpanID = n.Trace.TraceID().String(), n.Trace.SpanID().String()
	}
	return out
}

// Domain is the stored notification, or an error naming what does not parse.
func (n Notification) Domain() (domain.Notification, error) {
	c, ok := domain.CodeNamed(n.Code)
	if !ok {
		return domain.Notification{}, fmt.Errorf("notification for %q: unknown code %q", n.Monitor, n.Code)
	}
	about, ok := AboutOf(n.About)
	if !ok {
		return domain.Notification{}, fmt.Errorf("notification for %q: unknown subject kind %q", n.Monitor, n.About)
	}
	out := domain.Notification{Time: n.Time, Monitor: n.Monitor, About: about, Code: c, State: n.State, Message: n.Message,
		Groups: n.Groups, Labels: n.Labels, Incident: n.Incident}
	if n.ReplacesCode != "" {
		rc, ok := domain.CodeNamed(n.ReplacesCode)
		if !ok {
			return domain.Notification{}, fmt.Errorf("notification for %q: unknown code %q", n.Monitor, n.ReplacesCode)
		}
		out.Replaces = domain.Fired{Code: rc, At: n.ReplacesAt}
	}
	out.Trace = SpanContext(n.TraceID, n.SpanID)
	return out, nil
}

// AboutOf parses a stored subject kind: empty (files before it was
// stored) is a monitor.
func AboutOf(s string) (domain.About, bool) {
	if s == "" {
		return domain.AboutMonitor, true
	}
	return domain.AboutNamed(s)
}

// SpanContext rebuilds a stored trace context; invalid when there is none.
func SpanContext(traceID, spanID string) trace.SpanContext {
	tid, err1 := trace.TraceIDFromHex(traceID)
	sid, err2 := trace.SpanIDFromHex(spanID)
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}
