package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// One agent per state directory (issue #22, item 3): a second agent on a
// directory in use refuses to start and names the directory and the first
// agent's process; the first clears the temporary files a killed write
// left, and a named pipe where state.json should be is set aside at once
// instead of hanging the start.
func TestOneAgentPerStateDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "state.json.tmp-4242")
	if err := os.WriteFile(stale, []byte(`{"program":"cpra-agent",`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "state.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid, err := filepath.Abs("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := startAgent(t, "--yaml="+valid, "--storage.path="+dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a killed write's temporary file survived the start: %v", err)
	}
	if e := first.logEntries("state file set aside; starting without it"); len(e) != 1 ||
		!strings.Contains(e[0]["err"].(string), "not a regular file but a named pipe") {
		t.Errorf("state.json a named pipe: logged %v; want it set aside as not a regular file", e)
	}

	_, stderr, err := runAgent(t, "--yaml="+valid, "--storage.path="+dir, "--web.listen-address=127.0.0.1:0")
	want := "state directory " + dir + " is in use by process " + strconv.Itoa(first.cmd.Process.Pid)
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("a second agent on the same state directory: %v, stderr:\n%s\nwant it refused, saying %q", err, stderr, want)
	}
	if strings.Contains(stderr, "starting cpra-agent") {
		t.Errorf("the second agent said it was starting before refusing:\n%s", stderr)
	}
}

// Running out of descriptors is the agent's limit, never the targets'
// failure (issue #22, item 4): with `ulimit -n 256` and 1,000 healthy HTTP
// monitors over 400 hosts (more kept-alive connections than the limit
// allows), no monitor gets a yellow or red, the web endpoints keep
// answering, and the state is saved at shutdown.
func TestOutOfDescriptorsIsNeverAnAlarm(t *testing.T) {
	t.Parallel()
	const hosts, perHost = 400, 5
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	var ms []string
	for h := range hosts {
		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		for i := range perHost {
			m := httpMonitor(fmt.Sprintf("svc-%03d-%d", h, i), fmt.Sprintf("%s/health/%d", srv.URL, i), 2, logCodes(codesFile))
			ms = append(ms, strings.Replace(m, "interval: "+checkInterval, "interval: 2s", 1))
		}
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	storage := filepath.Join(dir, "state")
	a := launchAgentVia(t, []string{"/bin/sh", "-c", `ulimit -n 256 && exec "$@"`, "sh"}, nil,
		"--yaml="+monitors, "--storage.path="+storage)
	waitFor(t, "/-/ready", func() (bool, string) {
		status, body := a.get("/-/ready")
		return status == http.StatusOK, fmt.Sprintf("%d %q", status, body)
	})
	a.waitMetrics(t, "three rounds of checks", func(m metrics) []string {
		return m.expect(nil, "cpra_checks_total", ">=", 3*hosts*perHost, "type", "http")
	})
	if status, _ := a.get("/-/healthy"); status != http.StatusOK {
		t.Errorf("/-/healthy: %d", status)
	}
	m := a.scrape(t)
	if failed, _ := m.value("cpra_checks_total", "type", "http", "result", "failure"); failed > 0 {
		t.Errorf("%v checks failed against healthy targets", failed)
	}
	if lines := readAllCodes(t, codesFile); len(lines) > 0 {
		t.Errorf("%d codes for healthy monitors, the first %+v", len(lines), lines[0])
	}
	a.signal(t, syscall.SIGTERM)
	if err := a.wait(t, time.Minute); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if e := a.logEntries("cannot write the state; the previous file stays"); len(e) > 0 {
		t.Errorf("the state was not saved: %v", e)
	}
	if _, err := os.Stat(filepath.Join(storage, "state.json")); err != nil {
		t.Errorf("no state file after shutdown: %v", err)
	}
}
