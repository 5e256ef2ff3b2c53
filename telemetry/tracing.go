package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME says otherwise.
const DefaultServiceName = "cpra-agent"

// Keep is the span attribute that makes the sampler keep a span whatever
// the configured ratio: incidents, failures and engine events are always
// kept; routine checks follow the ratio.
var Keep = attribute.Bool("cpra.keep", true)

// Tracing is the agent's tracer. With no OTLP endpoint configured it is a
// no-op: spans cost nothing and nothing is exported.
type Tracing struct {
	Tracer   trace.Tracer
	Enabled  bool
	provider *sdktrace.TracerProvider
}

// TracingOptions configure NewTracing beyond the OTEL_* variables.
type TracingOptions struct {
	// RoutineRatio is the fraction of routine (successful, no incident)
	// checks traced when OTEL_TRACES_SAMPLER is not set.
	RoutineRatio float64
	// Exporter replaces the OTLP exporter (tests use an in-memory one);
	// it also enables tracing.
	Exporter sdktrace.SpanExporter
	// Sync exports each span as it ends instead of in batches (tests).
	Sync bool
}

// NewTracing configures tracing from the standard environment variables:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (tracing
// is off unless one is set), OTEL_EXPORTER_OTLP_PROTOCOL or
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (grpc or http/protobuf, the default),
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. getenv is os.Getenv in production.
func NewTracing(ctx context.Context, getenv func(string) string, opts TracingOptions) (*Tracing, error) {
	exporter := opts.Exporter
	if exporter == nil {
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return &Tracing{Tracer: noop.NewTracerProvider().Tracer("cpra-agent")}, nil
		}
		protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if protocol == "" {
			protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		var err error
		switch protocol {
		case "", "http/protobuf":
			exporter, err = otlptracehttp.New(ctx) // reads the OTEL_EXPORTER_OTLP_* variables
		case "grpc":
			exporter, err = otlptracegrpc.New(ctx)
		default:
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (grpc or http/protobuf)", protocol)
		}
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
	}
	fallback, err := samplerFromEnv(getenv, opts.RoutineRatio)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName), semconv.ServiceVersion(Build().Version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	processor := sdktrace.NewBatchSpanProcessor(exporter)
	if opts.Sync {
		processor = sdktrace.NewSimpleSpanProcessor(exporter)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(keepSampler{fallback}),
		sdktrace.WithIDGenerator(presetIDs{}),
		sdktrace.WithSpanProcessor(processor),
	)
	return &Tracing{Tracer: tp.Tracer("github.com/cpra-agent/cpra-agent"), Enabled: true, provider: tp}, nil
}

// Shutdown exports what is buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// samplerFromEnv parses OTEL_TRACES_SAMPLER the way the SDK does; unset, it
// samples routine traces at ratio.
func samplerFromEnv(getenv func(string) string, ratio float64) (sdktrace.Sampler, error) {
	name, arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")), strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	argRatio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: want a ratio between 0 and 1, got %q", arg)
		}
		return r, nil
	}
	switch name {
	case "":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := argRatio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not supported (always_on, always_off, traceidratio and their parentbased_ forms)", name)
}

// keepSampler keeps spans marked Keep, and spans whose parent was kept;
// everything else goes to the configured sampler.
type keepSampler struct{ fallback sdktrace.Sampler }

func (s keepSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	parent := trace.SpanContextFromContext(p.ParentContext)
	keep := parent.IsValid() && parent.IsSampled()
	for _, a := range p.Attributes {
		if a == Keep {
			keep = true
		}
	}
	if keep {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: parent.TraceState()}
	}
	return s.fallback.ShouldSample(p)
}

func (s keepSampler) Description() string { return "KeepOr{" + s.fallback.Description() + "}" }

// presetIDs is the SDK's ID generator, except that a span started with
// WithIDs gets the IDs it was given. The agent decides an incident's trace
// and root span IDs when the incident opens, hands them to the incident's
// child spans, and starts the root span itself only when the incident
// closes: an open incident costs a map entry of about 100 bytes, not a live span.
type presetIDs struct{}

type presetKey struct{}

type preset struct {
	trace trace.TraceID
	span  trace.SpanID
}

// WithIDs makes the next span started with ctx use these IDs.
func WithIDs(ctx context.Context, sc trace.SpanContext) context.Context {
	return context.WithValue(ctx, presetKey{}, preset{sc.TraceID(), sc.SpanID()})
}

func (presetIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p, ok := ctx.Value(presetKey{}).(preset); ok {
		return p.trace, p.span
	}
	return NewTraceID(), NewSpanID()
}

func (presetIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if p, ok := ctx.Value(presetKey{}).(preset); ok {
		return p.span
	}
	return NewSpanID()
}

// NewTraceID returns a random trace ID.
func NewTraceID() (id trace.TraceID) {
	for !id.IsValid() {
		a, b := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			id[i], id[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
		}
	}
	return id
}

// NewSpanID returns a random span ID.
func NewSpanID() (id trace.SpanID) {
	for !id.IsValid() {
		a := rand.Uint64()
		for i := range 8 {
			id[i] = byte(a >> (8 * i))
		}
	}
	return id
}

// Record creates a finished span after the fact, from start to end, as a
// child of parent (a zero SpanContext starts a new trace). It returns the
// span's context, which is invalid when the span was not sampled.
func (t *Tracing) Record(parent trace.SpanContext, name string, start, end time.Time, attrs []attribute.KeyValue, failed string) trace.SpanContext {
	if t == nil || !t.Enabled {
		return trace.SpanContext{}
	}
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	_, span := t.Tracer.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if failed != "" {
		span.SetStatus(otelcodes.Error, failed)
	}
	span.End(trace.WithTimestamp(end))
	if !span.SpanContext().IsSampled() {
		return trace.SpanContext{}
	}
	return span.SpanContext()
}

// Event records a short, always-kept span for an engine event (a breaker
// transition, backpressure engaging, a sizing decision), so a trace
// backend shows when and why the engine changed course.
func (t *Tracing) Event(name string, attrs ...attribute.KeyValue) {
	if t == nil || !t.Enabled {
		return
	}
	now := time.Now()
	_, span := t.Tracer.Start(context.Background(), name, trace.WithTimestamp(now),
		trace.WithAttributes(append(attrs, Keep)...), trace.WithSpanKind(trace.SpanKindInternal))
	span.End(trace.WithTimestamp(now))
}
