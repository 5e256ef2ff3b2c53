package codepath

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/telemetry"
)

// CheckSpan records one check's span and returns its context (invalid when
// not sampled), for the duration histogram's exemplar. Checks of a monitor
// in an incident belong to the incident's trace and are always kept;
// routine checks are traces of their own, sampled.
func (p *Path) CheckSpan(monitor, typ string, start time.Time, d time.Duration, ok bool, reason string) trace.SpanContext {
	if !p.t.Enabled {
		return trace.SpanContext{}
	}
	attrs := []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.check.type", typ),
		attribute.Bool("cpra.check.success", ok),
	}
	_, root := p.Incident(monitor)
	if !root.IsValid() {
		return p.t.Record(trace.SpanContext{}, "pulse "+typ, start, start.Add(d), attrs, "")
	}
	failed := ""
	if !ok {
		failed = reason
		attrs = append(attrs, attribute.String("cpra.check.reason", reason))
	}
	return p.t.Record(root, "pulse "+typ, start, start.Add(d), append(attrs, telemetry.Keep), failed)
}

// RemedySpan records an intervention in the monitor's incident.
func (p *Path) RemedySpan(monitor, typ, dest string, start, end time.Time, err error) {
	_, root := p.Incident(monitor)
	if !root.IsValid() {
		return
	}
	failed := ""
	if err != nil {
		failed = err.Error()
	}
	p.t.Record(root, "intervention "+typ, start, end, []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.intervention.type", typ),
		attribute.String("cpra.destination", dest),
		telemetry.Keep,
	}, failed)
}

// writeTrace writes the closing span and the incident's root span.
func (p *Path) writeTrace(monitor string, e *openIncident, outcome string, at time.Time) {
	if !e.root.IsValid() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("cpra.monitor", monitor), telemetry.Keep}
	p.t.Record(e.root, outcome, at, at, attrs, "")
	ctx := telemetry.WithIDs(context.Background(), e.root)
	_, root := p.t.Tracer.Start(ctx, "incident "+monitor, trace.WithTimestamp(e.start),
		trace.WithAttributes(append(attrs,
			attribute.String("cpra.incident.outcome", outcome),
			attribute.Int64("cpra.incident.id", int64(e.id)))...))
	root.End(trace.WithTimestamp(at))
}

// WriteOpenTraces ends the traces of incidents still open at shutdown, so
// they are complete in the backend. The incidents themselves stay open.
func (p *Path) WriteOpenTraces(at time.Time) {
	for s, e := range p.open {
		if e.id != 0 {
			p.writeTrace(s.Name, e, "open at shutdown", at)
		}
	}
}
