package owner

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// incidents gives every incident one trace. The incident opens with a
// monitor's first failing check and closes when it is healthy again, when a
// reload removes or disables the monitor, or at shutdown. Its failing checks, interventions, code
// deliveries and the recovery are spans in that trace, children of a root
// span "incident" that is written when the incident closes, spanning it.
// Owned by the owner goroutine.
type incidents struct {
	t         *telemetry.Tracing
	open      map[string]openIncident // by monitor name
	recovered []recovery              // closed by closeRecovered, after their codes
}

type recovery struct {
	monitor string
	at      time.Time
}

type openIncident struct {
	root  trace.SpanContext // IDs chosen at open; the span itself is written at close
	start time.Time
}

func newIncidents(t *telemetry.Tracing) *incidents {
	return &incidents{t: t, open: map[string]openIncident{}}
}

// context returns the incident trace of monitor, or an invalid context.
func (in *incidents) context(monitor string) trace.SpanContext {
	return in.open[monitor].root
}

// check records one check's span and returns its context (invalid when
// not sampled), for the duration histogram's exemplar. Checks of a monitor
// in an incident, and failing checks, belong to the incident's trace and
// are always kept; routine checks are traces of their own, sampled.
func (in *incidents) check(monitor, typ string, start time.Time, d time.Duration, ok bool, reason string, after incident.State) trace.SpanContext {
	if !in.t.Enabled {
		return trace.SpanContext{}
	}
	attrs := []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.check.type", typ),
		attribute.Bool("cpra.check.success", ok),
	}
	inc, exists := in.open[monitor]
	if !exists && ok {
		return in.t.Record(trace.SpanContext{}, "pulse "+typ, start, start.Add(d), attrs, "")
	}
	if !exists {
		inc = openIncident{start: start, root: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: telemetry.NewTraceID(), SpanID: telemetry.NewSpanID(), TraceFlags: trace.FlagsSampled,
		})}
		in.open[monitor] = inc
	}
	failed := ""
	if !ok {
		failed = reason
		attrs = append(attrs, attribute.String("cpra.check.reason", reason))
	}
	sc := in.t.Record(inc.root, "pulse "+typ, start, start.Add(d), append(attrs, telemetry.Keep), failed)
	if after == incident.Healthy {
		in.recovered = append(in.recovered, recovery{monitor, start.Add(d)})
	}
	return sc
}

// closeRecovered closes the incidents of monitors that recovered, once
// their green codes have taken the incident's trace.
func (in *incidents) closeRecovered() {
	for _, r := range in.recovered {
		in.close(r.monitor, "recovered", r.at)
	}
	clear(in.recovered)
	in.recovered = in.recovered[:0]
}

// remedy records an intervention in the monitor's incident.
func (in *incidents) remedy(monitor, typ, dest string, start, end time.Time, err error) {
	inc, ok := in.open[monitor]
	if !ok || !in.t.Enabled {
		return
	}
	failed := ""
	if err != nil {
		failed = err.Error()
	}
	in.t.Record(inc.root, "intervention "+typ, start, end, []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.intervention.type", typ),
		attribute.String("cpra.destination", dest),
		telemetry.Keep,
	}, failed)
}

// close writes the recovery span and the incident's root span.
func (in *incidents) close(monitor, outcome string, at time.Time) {
	inc, ok := in.open[monitor]
	if !ok {
		return
	}
	delete(in.open, monitor)
	if !in.t.Enabled {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("cpra.monitor", monitor), telemetry.Keep}
	in.t.Record(inc.root, outcome, at, at, attrs, "")
	ctx := telemetry.WithIDs(context.Background(), inc.root)
	_, root := in.t.Tracer.Start(ctx, "incident "+monitor, trace.WithTimestamp(inc.start),
		trace.WithAttributes(append(attrs, attribute.String("cpra.incident.outcome", outcome))...))
	root.End(trace.WithTimestamp(at))
}

// closeGone ends the incidents of monitors that a reload removed (or
// renamed) or disabled: removed ones would otherwise stay open for the
// life of the process, and a monitor added back under the name, or
// enabled again, starts a new incident rather than joining the old one.
func (in *incidents) closeGone(at time.Time, lookup func(name string) (incident.State, bool)) {
	for m := range in.open {
		switch st, ok := lookup(m); {
		case !ok:
			in.close(m, "removed", at)
		case st == incident.Maintenance:
			in.close(m, "disabled", at)
		}
	}
}

// closeAll ends every open incident, at shutdown, so their traces are
// complete in the backend.
func (in *incidents) closeAll(at time.Time) {
	for m := range in.open {
		in.close(m, "open at shutdown", at)
	}
}
