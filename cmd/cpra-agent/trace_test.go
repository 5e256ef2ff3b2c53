package main

// End-to-end test of tracing: the agent exports over OTLP/HTTP to a
// receiver the test runs on loopback, and an incident arrives as one trace.

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is what the test keeps of an exported span.
type otlpSpan struct {
	name, trace, id, parent string
}

// otlpReceiver accepts OTLP/HTTP protobuf exports at /v1/traces.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []otlpSpan
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(req.Body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &export)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					r.spans = append(r.spans, otlpSpan{s.GetName(), hex.EncodeToString(s.GetTraceId()),
						hex.EncodeToString(s.GetSpanId()), hex.EncodeToString(s.GetParentSpanId())})
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(out)
	})
	r.url = srv.URL
	return r
}

func (r *otlpReceiver) all() []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

func TestIncidentTraceOverOTLP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	svc := newService(t, true)
	repair := newServer(t, func(w http.ResponseWriter, r *http.Request) { svc.set(false) })
	otlp := newOTLPReceiver(t)
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, httpMonitor("api", svc.healthURL(), 2, webhookRemedy(repair.URL+"/repair"), logCodes(codesFile)))
	a := startAgentEnv(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.url,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=cpra-e2e",
	}, "--yaml="+monitors)

	var root otlpSpan
	waitFor(t, "the incident's root span at the receiver", func() (bool, string) {
		spans := otlp.all()
		i := slices.IndexFunc(spans, func(s otlpSpan) bool { return s.name == "incident api" })
		if i < 0 {
			return false, fmt.Sprintf("%d spans so far", len(spans))
		}
		root = spans[i]
		return true, ""
	})
	waitFor(t, "pulse, intervention and code spans in the incident's trace", func() (bool, string) {
		got := map[string]bool{}
		for _, s := range otlp.all() {
			if s.trace == root.trace && s.parent == root.id {
				got[strings.Fields(s.name)[0]] = true
			}
		}
		return got["pulse"] && got["intervention"] && got["code"] && got["recovered"], fmt.Sprint(got)
	})

	// The trace ID is in the code log lines and in the exemplars.
	if e := a.logEntries("code"); !slices.ContainsFunc(e, func(m map[string]any) bool { return m["trace_id"] == root.trace }) {
		t.Errorf("no code log line carries trace_id %s", root.trace)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.addr+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exemplar := regexp.MustCompile(`(?m)^cpra_check_duration_seconds_bucket\{.*\} \d+ # \{trace_id="([0-9a-f]{32})"\}`)
	if m := exemplar.FindAllStringSubmatch(string(body), -1); len(m) == 0 {
		t.Errorf("no exemplar with a trace ID on cpra_check_duration_seconds in the OpenMetrics scrape")
	} else if !slices.ContainsFunc(m, func(x []string) bool { return x[1] == root.trace }) {
		t.Logf("exemplars carry other traces (a later check replaced them): %v", m)
	}
}
