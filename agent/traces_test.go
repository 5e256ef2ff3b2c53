package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// TestIncidentIsOneTrace runs an agent in-process against a service that
// fails until a webhook remedy repairs it, with the SDK's in-memory
// exporter, and checks that the incident is one trace: the failing checks,
// the intervention, the code deliveries and the recovery under one root.
func TestIncidentIsOneTrace(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/repair":
			broken.Store(false)
		case broken.Load():
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer svc.Close()
	var payloads atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		payloads.Store(string(b))
	}))
	defer hook.Close()

	monitors := fmt.Sprintf(`monitors:
  - name: api
    pulse_check:
      type: http
      interval: 100ms
      timeout: 100ms
      max_failures: 2
      healthy_threshold: 2
      config: {url: %q}
    intervention:
      type: webhook
      config: {url: %q}
    codes:
      yellow: {notify: webhook, config: {url: %q}}
      red:    {notify: webhook, config: {url: %q}}
`, svc.URL+"/health", svc.URL+"/repair", hook.URL, hook.URL)

	exp := tracetest.NewInMemoryExporter()
	tracing, err := telemetry.NewTracing(context.Background(), func(string) string { return "" },
		telemetry.TracingOptions{Exporter: exp, Sync: true, RoutineRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	a, ctx := startTestAgent(t, config.DefaultAgent(), fixed(monitors), tracing, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	// The root span is written when the incident closes.
	testwait.Until(t, "the incident's root span", func() bool { return hasSpan(exp, "incident api") })

	var root tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "incident api" {
			root = s
		}
	}
	kinds2 := map[string]int{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() || s.Name == root.Name {
			continue
		}
		if s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("span %q is in the incident's trace but not under its root", s.Name)
		}
		kinds2[strings.Fields(s.Name)[0]]++
	}
	for _, want := range []string{"pulse", "intervention", "code", "recovered"} {
		if kinds2[want] == 0 {
			t.Errorf("no %q span in the incident's trace; got %v", want, kinds2)
		}
	}
	if kinds2["pulse"] < 3 { // two failures, then two successes to recover
		t.Errorf("%d pulse spans in the incident, want the failing and the verifying checks", kinds2["pulse"])
	}
	p, _ := payloads.Load().(string)
	if !strings.Contains(p, `"trace_id":"`+root.SpanContext.TraceID().String()+`"`) {
		t.Errorf("webhook payload %s does not carry the incident's trace ID %s", p, root.SpanContext.TraceID())
	}
}

func hasSpan(exp *tracetest.InMemoryExporter, name string) bool {
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			return true
		}
	}
	return false
}
