package telemetry

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

func TestTracingIsOffWithoutAnEndpoint(t *testing.T) {
	tr, err := NewTracing(context.Background(), func(string) string { return "" }, TracingOptions{RoutineRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled {
		t.Fatal("tracing enabled without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if sc := tr.Record(trace.SpanContext{}, "x", time.Now(), time.Now(), nil, ""); sc.IsValid() {
		t.Fatal("a disabled tracer recorded a span")
	}
	tr.Event("nothing") // must not panic
}

func TestTracingRejectsBadSettings(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"protocol":    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		"sampler":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
		"sampler arg": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewTracing(context.Background(), func(k string) string { return env[k] }, TracingOptions{})
			if err == nil {
				t.Fatalf("accepted %v", env)
			}
		})
	}
}

func TestKeepSamplerKeepsIncidentsAndSamplesRoutine(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := NewTracing(context.Background(), func(string) string { return "" }, TracingOptions{Exporter: exp, Sync: true, RoutineRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if sc := tr.Record(trace.SpanContext{}, "routine", now, now, nil, ""); sc.IsValid() {
		t.Error("a routine span was kept at ratio 0")
	}
	kept := tr.Record(trace.SpanContext{}, "failure", now, now, []attribute.KeyValue{Keep}, "boom")
	if !kept.IsSampled() {
		t.Fatal("a span marked Keep was dropped")
	}
	if child := tr.Record(kept, "child", now, now, nil, ""); !child.IsSampled() || child.TraceID() != kept.TraceID() {
		t.Error("the child of a kept span was dropped or left its trace")
	}
	tr.Event("breaker open", attribute.String("cpra.destination", "x"))
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if len(names) != 3 {
		t.Errorf("exported %v, want failure, child and the event", names)
	}

	// A root written later with preset IDs is the parent its children named.
	root := trace.NewSpanContext(trace.SpanContextConfig{TraceID: NewTraceID(), SpanID: NewSpanID(), TraceFlags: trace.FlagsSampled})
	tr.Record(root, "step", now, now, []attribute.KeyValue{Keep}, "")
	_, span := tr.Tracer.Start(WithIDs(context.Background(), root), "incident", trace.WithAttributes(Keep))
	span.End()
	if got := span.SpanContext(); got.TraceID() != root.TraceID() || got.SpanID() != root.SpanID() {
		t.Errorf("root span has IDs %s/%s, want the preset %s/%s", got.TraceID(), got.SpanID(), root.TraceID(), root.SpanID())
	}
}

// traceServer is an OTLP/gRPC receiver.
type traceServer struct {
	coltracepb.UnimplementedTraceServiceServer
	mu       sync.Mutex
	names    []string
	services []string
}

func (s *traceServer) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				s.services = append(s.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s.names = append(s.names, sp.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestTracingExportsOverGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	recv := &traceServer{}
	coltracepb.RegisterTraceServiceServer(srv, recv)
	go srv.Serve(ln)
	defer srv.Stop()

	// The exporter reads the real environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	os.Unsetenv("OTEL_SERVICE_NAME")
	tr, err := NewTracing(context.Background(), os.Getenv, TracingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled {
		t.Fatal("tracing off with an endpoint set")
	}
	tr.Event("sizing up", attribute.String("cpra.pipeline", "pulse"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.names) != 1 || recv.names[0] != "sizing up" {
		t.Errorf("received spans %v, want the one event", recv.names)
	}
	if len(recv.services) == 0 || recv.services[0] != DefaultServiceName {
		t.Errorf("service.name %v, want %s by default", recv.services, DefaultServiceName)
	}
}
