package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServesMetricsWhileLoading: the agent listens before its monitor file
// is read, so /metrics and /-/healthy answer while a large file is still
// loading, and what needs the monitors (/-/ready, /probe, POST /-/reload)
// says 503 until they are in place. The monitor file is a named pipe: the
// agent's read blocks until the test writes it, which holds the agent in
// its loading phase for as long as the test needs, without any timing.
func TestServesMetricsWhileLoading(t *testing.T) {
	svc := newService(t, false)
	fifo := filepath.Join(t.TempDir(), "monitors.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	a := launchAgent(t, nil, "--yaml="+fifo)

	for path, want := range map[string]int{
		"/metrics":                http.StatusOK,
		"/-/healthy":              http.StatusOK,
		"/-/ready":                http.StatusServiceUnavailable,
		"/probe?monitor=loadtest": http.StatusServiceUnavailable,
	} {
		if status, body := a.get(path); status != want {
			t.Errorf("GET %s while loading: %d %q, want %d", path, status, body, want)
		}
	}
	if status, body := a.do(t, http.MethodPost, "/-/reload"); status != http.StatusServiceUnavailable || !strings.Contains(body, "loading") {
		t.Errorf("POST /-/reload while loading: %d %q, want 503 saying it is loading", status, body)
	}
	if m := a.scrape(t); len(m) == 0 {
		t.Errorf("/metrics while loading has no families")
	}

	// Opening the pipe for writing blocks until the agent opens it to read.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("monitors:\n" + httpMonitor("loadtest", svc.URL, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/-/ready to answer 200 once the file is read", func() (bool, string) {
		status, body := a.get("/-/ready")
		return status == http.StatusOK, body
	})
	waitFor(t, "/probe to show the loaded monitor", func() (bool, string) {
		status, body := a.get("/probe?monitor=loadtest")
		return status == http.StatusOK && strings.Contains(body, "probe_success 1"), body
	})
}
