package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// TestProbeEndpoint runs an agent in-process, as shard 0 of 2, with a
// disabled monitor of its own shard and one of the other shard, and checks
// /probe's answers. The end-to-end test covers checked monitors.
func TestProbeEndpoint(t *testing.T) {
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		name := fmt.Sprintf("m%d", i)
		if ShardOf(name, 2) == 0 {
			mine = name
		} else {
			theirs = name
		}
	}
	monitors := "monitors:\n"
	for _, name := range []string{mine, theirs} {
		monitors += fmt.Sprintf("  - name: %s\n    enabled: false\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}\n", name)
	}
	log := slog.New(slog.DiscardHandler)
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(), code.Deps{Logger: log, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultAgent()
	cfg.Shard = config.Shard{Count: 2, Index: 0}
	a, err := New(cfg, kinds, Source{Name: "monitors.yaml", Read: func() ([]byte, error) { return []byte(monitors), nil }},
		telemetry.NewMetrics(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	h := a.handler()

	tests := []struct {
		query  string
		status int
		body   []string // substrings
		absent []string
	}{
		{"monitor=" + mine, http.StatusOK,
			[]string{fmt.Sprintf(`cpra_monitor_state{monitor=%q,state="maintenance"} 1`, mine)},
			[]string{"probe_success", "cpra_monitor_up"}}, // a disabled monitor is not checked
		{"monitor=" + theirs, http.StatusNotFound,
			[]string{fmt.Sprintf("unknown monitor %q", theirs), "another shard (this agent is shard.index 0 of shard.count 2)"}, nil},
		{"", http.StatusBadRequest, []string{"missing parameter: monitor"}, nil},
		{"monitor=", http.StatusBadRequest, []string{"missing parameter: monitor"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?"+tt.query, nil))
			body := rec.Body.String()
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d; body %q", rec.Code, tt.status, body)
			}
			for _, s := range tt.body {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %q:\n%s", s, body)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
		})
	}
}
