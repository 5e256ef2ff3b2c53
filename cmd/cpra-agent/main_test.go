// End-to-end tests of the whole cpra-agent binary.
//
// TestMain builds the binary once (with -race when the tests run with
// -race, so the race detector also watches the agent). Every test starts
// its own agent as a real process, with a monitor file in t.TempDir(),
// against servers the test owns on 127.0.0.1: services it switches between
// healthy (200) and failing (503), remedy webhooks and scripts whose outcome
// it controls, and, for the Alertmanager test, the real Alertmanager binary.
// It observes the agent only through its interfaces: the log notifier's JSON
// lines, /metrics (parsed with expfmt), the HTTP endpoints, the process's
// exit status and its JSON log on standard error.
//
// Nothing here asserts a duration. Every wait polls for an outcome with a
// generous deadline, because the test machine is shared and noisy.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

const (
	// waitTimeout bounds every wait for something the agent should do. It
	// is a deadline for failing the test, never an expectation.
	waitTimeout = 45 * time.Second
	pollEvery   = 50 * time.Millisecond

	// Every monitor is checked this often, with this timeout. The timeout
	// is as long as the interval allows so that a stalled machine does not
	// turn a healthy check into a spurious failure.
	checkInterval = "500ms"
	checkTimeout  = "500ms"
)

// agentBin is the binary TestMain built.
var agentBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cpra-agent-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot create a directory for the cpra-agent binary: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "cpra-agent")
	args := []string{"build", "-o", agentBin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, ".")
	cmd := exec.Command(goTool(), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot build the cpra-agent binary (go %s): %v\n%s\n",
			strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// goTool is the go command: the one `go test` puts first on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// ---------------------------------------------------------------------------
// 1. An incident repaired by a working remedy: yellow, cyan, green.

func TestIncidentWithWorkingRemedy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	web := newService(t, false)
	other := newService(t, false)

	type call struct {
		query string
		body  []byte
	}
	var mu sync.Mutex
	var calls []call
	remedy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, call{r.URL.Query().Get("monitor"), body})
		mu.Unlock()
		// The repair brings the service back. Answer once a health check
		// has seen the repaired service: checks run one at a time per
		// monitor, so no check that failed before the repair is still in
		// flight when the agent learns that the repair worked (a failure
		// while verifying would rightly be red).
		before := web.set(false)
		if !web.waitOK(r.Context(), before) {
			t.Errorf("no health check reached the service while its intervention ran; pulses must keep running during an intervention")
		}
		w.WriteHeader(http.StatusOK)
	})

	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors,
		httpMonitor("web", web.healthURL(), 2,
			webhookRemedy(remedy.URL+"/repair?monitor={{.Monitor | urlquery}}"), logCodes(codesFile)),
		tcpMonitor("other", other.Listener.Addr().String(), logCodes(codesFile)),
	)
	a := startAgent(t, "--yaml="+monitors)
	a.waitSettled(t, codesFile, "web", "other")
	// A check that timed out on a stalled machine before this point was a
	// real incident of its own; the one under test starts here.
	mark, markOther := len(readCodes(t, codesFile, "web")), len(readCodes(t, codesFile, "other"))
	mu.Lock()
	callsBefore := len(calls)
	mu.Unlock()

	web.set(true)
	waitFor(t, "web to recover (green)", func() (bool, string) {
		got := colours(readCodes(t, codesFile, "web")[mark:])
		return slices.Contains(got, "green"), fmt.Sprintf("codes for web so far: %v", got)
	})

	lines := readCodes(t, codesFile, "web")[mark:]
	if got, want := colours(lines), []string{"yellow", "cyan", "green"}; !slices.Equal(got, want) {
		t.Fatalf("codes for web = %v, want exactly %v; lines:\n%s", got, want, dump(lines))
	}
	expectLine(t, lines[0], "yellow", "warning", "degraded", "503")
	expectLine(t, lines[1], "cyan", "info", "verifying", "intervention succeeded")
	expectLine(t, lines[2], "green", "", "healthy", "recovered")
	for _, l := range lines {
		if !slices.Equal(l.Groups, []string{"e2e"}) {
			t.Errorf("%s line has groups %q, want [e2e]", l.Code, l.Groups)
		}
	}
	if got := readCodes(t, codesFile, "other")[markOther:]; len(got) != 0 {
		t.Errorf("the healthy monitor sent codes:\n%s", dump(got))
	}

	mu.Lock()
	got := slices.Clone(calls[callsBefore:])
	mu.Unlock()
	if len(got) != 1 {
		t.Errorf("the remedy webhook was called %d times, want once", len(got))
	}
	for _, c := range got {
		if c.query != "web" {
			t.Errorf("remedy request query monitor=%q, want web", c.query)
		}
		var body struct{ Monitor string }
		if err := json.Unmarshal(c.body, &body); err != nil || body.Monitor != "web" {
			t.Errorf("remedy request body %q does not name the monitor web (err %v)", c.body, err)
		}
	}

	a.waitMetrics(t, "the incident's metrics", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitors", "==", 2, "state", "healthy")
		miss = m.expect(miss, "cpra_monitors", "==", 2) // all states together
		miss = m.expect(miss, "cpra_interventions_total", ">=", 1, "type", "webhook", "result", "success")
		miss = m.expect(miss, "cpra_interventions_total", "==", 0, "result", "failure")
		miss = m.expect(miss, "cpra_checks_total", ">", 0, "type", "http", "result", "failure")
		miss = m.expect(miss, "cpra_checks_total", ">", 0, "type", "http", "result", "success")
		miss = m.expect(miss, "cpra_checks_total", ">", 0, "type", "tcp", "result", "success")
		for _, c := range []string{"yellow", "cyan", "green"} {
			miss = m.expect(miss, "cpra_codes_dispatched_total", ">=", 1, "code", c, "notifier", "log", "result", "success")
		}
		miss = m.expect(miss, "cpra_build_info", "==", 1, "goversion", runtime.Version())
		miss = m.expect(miss, "cpra_config_last_reload_successful", "==", 1)
		miss = m.expectHistogram(miss, "cpra_check_duration_seconds", "type", "http")
		miss = m.expectHistogram(miss, "cpra_check_duration_seconds", "type", "tcp")
		miss = m.expectHistogram(miss, "cpra_schedule_lag_seconds")
		return miss
	})
}

// ---------------------------------------------------------------------------
// 2 and 3. Escalation to red: a remedy that fails (webhook and script, with
// the restart-loop guard), and a monitor without any remedy.

func TestEscalationToRed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	db := newService(t, true)
	disk := newService(t, true)
	plain := newService(t, true)

	var webhookCalls atomic.Int64
	remedy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		webhookCalls.Add(1)
		http.Error(w, "restart failed: volume is read-only", http.StatusInternalServerError)
	})
	marker := filepath.Join(dir, "script-ran.txt")
	script := filepath.Join(dir, "repair.sh")
	writeFile(t, script, 0o755, "#!/bin/sh\n"+
		"echo \"repairing $CPRA_MONITOR (attempt $CPRA_ATTEMPT)\" >> '"+marker+"'\n"+
		"echo 'disk full'\n"+
		"exit 3\n")

	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors,
		httpMonitor("db", db.healthURL(), 2, webhookRemedy(remedy.URL+"/repair"), logCodes(codesFile)),
		httpMonitor("disk", disk.healthURL(), 2, scriptRemedy(script), logCodes(codesFile)),
		httpMonitor("plain", plain.healthURL(), 2, logCodes(codesFile)),
	)
	a := startAgent(t, "--yaml="+monitors)

	t.Run("failing webhook remedy", func(t *testing.T) {
		// max_per_window is 2: two failed interventions (red each time),
		// then the restart-loop guard (red) and no more interventions.
		waitFor(t, "db's restart-loop guard", func() (bool, string) {
			lines := readCodes(t, codesFile, "db")
			return slices.ContainsFunc(lines, func(l codeLine) bool {
				return l.Code == "red" && strings.Contains(l.Message, "restart-loop guard")
			}), "codes for db so far:\n" + dump(lines)
		})
		lines := readCodes(t, codesFile, "db")
		if got, want := colours(lines), []string{"yellow", "red", "red", "red"}; !slices.Equal(got, want) {
			t.Fatalf("codes for db = %v, want exactly %v; lines:\n%s", got, want, dump(lines))
		}
		expectLine(t, lines[0], "yellow", "warning", "degraded", "503")
		for _, l := range lines[1:3] {
			expectLine(t, l, "red", "critical", "down", "intervention failed")
			if !strings.Contains(l.Message, "500") || !strings.Contains(l.Message, "volume is read-only") {
				t.Errorf("red message %q does not give the webhook's status 500 and its answer", l.Message)
			}
		}
		expectLine(t, lines[3], "red", "critical", "down", "restart-loop guard")
		if n := webhookCalls.Load(); n != 2 {
			t.Errorf("the remedy webhook was called %d times, want 2 (max_per_window)", n)
		}
		a.waitMetrics(t, "failed interventions to be counted", func(m metrics) []string {
			return m.expect(nil, "cpra_interventions_total", "==", 2, "type", "webhook", "result", "failure")
		})

		db.set(false)
		waitFor(t, "db to recover (green)", func() (bool, string) {
			got := colours(readCodes(t, codesFile, "db"))
			return slices.Contains(got, "green"), fmt.Sprintf("codes for db so far: %v", got)
		})
		lines = readCodes(t, codesFile, "db")
		if got, want := colours(lines), []string{"yellow", "red", "red", "red", "green"}; !slices.Equal(got, want) {
			t.Errorf("codes for db = %v, want exactly %v; lines:\n%s", got, want, dump(lines))
		}
		if n := webhookCalls.Load(); n != 2 {
			t.Errorf("the remedy webhook was called %d times after the guard tripped, want still 2", n)
		}
	})

	t.Run("failing script remedy", func(t *testing.T) {
		waitFor(t, "disk to go red", func() (bool, string) {
			got := colours(readCodes(t, codesFile, "disk"))
			return slices.Contains(got, "red"), fmt.Sprintf("codes for disk so far: %v", got)
		})
		lines := readCodes(t, codesFile, "disk")
		if got := colours(lines); len(got) < 2 || !slices.Equal(got[:2], []string{"yellow", "red"}) {
			t.Fatalf("codes for disk = %v, want yellow then red; lines:\n%s", got, dump(lines))
		}
		expectLine(t, lines[1], "red", "critical", "down", "intervention failed")
		for _, want := range []string{"exit status 3", "disk full"} {
			if !strings.Contains(lines[1].Message, want) {
				t.Errorf("red message %q does not mention %q", lines[1].Message, want)
			}
		}
		ran, err := os.ReadFile(marker)
		if err != nil || !strings.Contains(string(ran), "repairing disk (attempt 1)") {
			t.Errorf("the remedy script did not run with CPRA_MONITOR=disk CPRA_ATTEMPT=1: %q (%v)", ran, err)
		}
		a.waitMetrics(t, "the failed script intervention to be counted", func(m metrics) []string {
			return m.expect(nil, "cpra_interventions_total", ">=", 1, "type", "script", "result", "failure")
		})
		disk.set(false)
		waitFor(t, "disk to recover (green)", func() (bool, string) {
			got := colours(readCodes(t, codesFile, "disk"))
			return slices.Contains(got, "green"), fmt.Sprintf("codes for disk so far: %v", got)
		})
		if got := colours(readCodes(t, codesFile, "disk")); got[len(got)-1] != "green" || slices.Contains(got, "cyan") {
			t.Errorf("codes for disk = %v, want no cyan and green last", got)
		}
	})

	t.Run("red without intervention", func(t *testing.T) {
		waitFor(t, "plain to go red", func() (bool, string) {
			got := colours(readCodes(t, codesFile, "plain"))
			return slices.Contains(got, "red"), fmt.Sprintf("codes for plain so far: %v", got)
		})
		plain.set(false)
		waitFor(t, "plain to recover (green)", func() (bool, string) {
			got := colours(readCodes(t, codesFile, "plain"))
			return slices.Contains(got, "green"), fmt.Sprintf("codes for plain so far: %v", got)
		})
		lines := readCodes(t, codesFile, "plain")
		if got, want := colours(lines), []string{"yellow", "red", "green"}; !slices.Equal(got, want) {
			t.Fatalf("codes for plain = %v, want exactly %v; lines:\n%s", got, want, dump(lines))
		}
		expectLine(t, lines[0], "yellow", "warning", "degraded", "503")
		expectLine(t, lines[1], "red", "critical", "down", "2 consecutive failed checks")
		expectLine(t, lines[2], "green", "", "healthy", "recovered")
	})

	a.waitMetrics(t, "every monitor to be healthy again", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitors", "==", 3, "state", "healthy")
		miss = m.expect(miss, "cpra_interventions_total", "==", 0, "result", "success")
		miss = m.expect(miss, "cpra_codes_dispatched_total", ">=", 3, "code", "red", "notifier", "log", "result", "success")
		return miss
	})
}

// ---------------------------------------------------------------------------
// 4. Red goes to the real Alertmanager; green resolves it.

func TestAlertmanager(t *testing.T) {
	t.Parallel()
	am := realserver.StartAlertmanager(t) // skips, saying why, when it is not installed
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	svc := newService(t, false)

	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, httpMonitor("checkout", svc.healthURL(), 2, fmt.Sprintf(`    codes:
      yellow: {dispatch: true, notify: log, config: {file: %q}}
      red:    {dispatch: true, notify: alertmanager, config: {url: %q, resend_interval: 1s}}
`, codesFile, am.URL)))
	a := startAgent(t, "--yaml="+monitors)
	a.waitSettled(t, codesFile, "checkout")
	mark := len(readCodes(t, codesFile, "checkout"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alertsFor := func() ([]realserver.AlertState, string) {
		all, err := am.Alerts(ctx)
		if err != nil {
			return nil, err.Error()
		}
		var out []realserver.AlertState
		for _, al := range all {
			if al.Labels["monitor"] == "checkout" {
				out = append(out, al)
			}
		}
		return out, fmt.Sprintf("alerts: %+v", all)
	}

	svc.set(true)
	var alert realserver.AlertState
	waitFor(t, "an active red alert in Alertmanager", func() (bool, string) {
		alerts, detail := alertsFor()
		for _, al := range alerts {
			if al.Labels["code"] == "red" && al.Status.State == "active" {
				alert = al
				return true, ""
			}
		}
		return false, detail
	})
	want := map[string]string{"alertname": "CPRAMonitor", "monitor": "checkout", "code": "red", "severity": "critical", "groups": "e2e"}
	for k, v := range want {
		if alert.Labels[k] != v {
			t.Errorf("alert label %s=%q, want %q; labels %v", k, alert.Labels[k], v, alert.Labels)
		}
	}
	if alerts, _ := alertsFor(); len(alerts) != 1 {
		t.Errorf("Alertmanager holds %d alerts for the monitor, want only the red one: %+v", len(alerts), alerts)
	}
	if got := colours(readCodes(t, codesFile, "checkout")[mark:]); !slices.Equal(got, []string{"yellow"}) {
		t.Errorf("codes in the log = %v, want only yellow (red goes to Alertmanager alone)", got)
	}

	svc.set(false)
	waitFor(t, "the monitor to recover (green)", func() (bool, string) {
		got := colours(readCodes(t, codesFile, "checkout")[mark:])
		return slices.Contains(got, "green"), fmt.Sprintf("codes in the log so far: %v", got)
	})
	waitFor(t, "the alert to be resolved in Alertmanager", func() (bool, string) {
		alerts, detail := alertsFor()
		now := time.Now()
		for _, al := range alerts {
			if al.EndsAt.IsZero() || al.EndsAt.After(now) { // still firing
				return false, detail
			}
		}
		return true, ""
	})
	a.waitMetrics(t, "deliveries to Alertmanager to be counted", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_codes_dispatched_total", ">=", 1, "code", "red", "notifier", "alertmanager", "result", "success")
		miss = m.expect(miss, "cpra_codes_dispatched_total", ">=", 1, "code", "green", "notifier", "alertmanager", "result", "success")
		miss = m.expect(miss, "cpra_codes_dispatched_total", "==", 0, "code", "yellow", "notifier", "alertmanager")
		return miss
	})
}

// ---------------------------------------------------------------------------
// 5. Reload on SIGHUP and POST /-/reload; a bad file keeps the running set.

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svcA, svcB, svcC, svcD := newService(t, false), newService(t, false), newService(t, false), newService(t, false)
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, httpMonitor("a", svcA.healthURL(), 2), httpMonitor("b", svcB.healthURL(), 2))
	a := startAgent(t, "--yaml="+monitors)

	var firstReload float64
	a.waitMetrics(t, "a and b to be healthy", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitors", "==", 2, "state", "healthy")
		miss = m.expect(miss, "cpra_config_last_reload_successful", "==", 1)
		firstReload, _ = m.value("cpra_config_last_reload_success_timestamp_seconds")
		return miss
	})

	// Remove b, add c and d, keep a; SIGHUP.
	good := []string{httpMonitor("a", svcA.healthURL(), 2), httpMonitor("c", svcC.healthURL(), 2), httpMonitor("d", svcD.healthURL(), 2)}
	writeMonitors(t, monitors, good...)
	a.signal(t, syscall.SIGHUP)
	a.waitMetrics(t, "the reloaded monitors (a, c, d) to be healthy", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_monitors", "==", 3) // all states together
		miss = m.expect(miss, "cpra_monitors", "==", 3, "state", "healthy")
		miss = m.expect(miss, "cpra_config_last_reload_successful", "==", 1)
		miss = m.expect(miss, "cpra_config_last_reload_success_timestamp_seconds", ">", firstReload)
		return miss
	})
	loaded := a.logEntries("configuration loaded")
	if len(loaded) != 2 {
		t.Fatalf("%d \"configuration loaded\" log entries, want 2 (start, SIGHUP): %v", len(loaded), loaded)
	}
	for k, v := range map[string]float64{"monitors": 3, "added": 2, "removed": 1, "unchanged": 1, "updated": 0} {
		if loaded[1][k] != v {
			t.Errorf("reload log entry %s=%v, want %v: %v", k, loaded[1][k], v, loaded[1])
		}
	}
	// b is no longer checked: while c is checked three more times, b gets
	// at most the one check that may have been in flight during the reload.
	b0, c0 := svcB.hits.Load(), svcC.hits.Load()
	waitFor(t, "c to be checked three more times", func() (bool, string) {
		return svcC.hits.Load() >= c0+3, ""
	})
	if b := svcB.hits.Load(); b > b0+1 {
		t.Errorf("the removed monitor b was checked %d more times after the reload", b-b0)
	}

	// A file with two errors: POST /-/reload fails, names both, and keeps
	// the running monitors.
	bad := []string{
		httpMonitor("a", svcA.healthURL(), 2),
		httpMonitor("c", svcC.healthURL(), 0),                            // max_failures must be at least 1
		httpMonitor("d", svcD.healthURL(), 2) + "    retry_policy: {}\n", // unknown key
	}
	text := writeMonitors(t, monitors, bad...)
	lineC, lineD := lineOf(t, text, "max_failures: 0"), lineOf(t, text, "retry_policy")
	var okChecks float64
	a.waitMetrics(t, "the check count before the failed reload", func(m metrics) []string {
		var found bool
		okChecks, found = m.value("cpra_checks_total", "type", "http", "result", "success")
		if !found {
			return []string{"cpra_checks_total{type=http,result=success} missing"}
		}
		return nil
	})
	status, body := a.do(t, http.MethodPost, "/-/reload")
	if status != http.StatusInternalServerError {
		t.Errorf("POST /-/reload of an invalid file: status %d, want 500; body %q", status, body)
	}
	for _, want := range []string{
		fmt.Sprintf("%s:%d: monitor \"c\": pulse_check.max_failures:", monitors, lineC),
		fmt.Sprintf("%s:%d: monitor \"d\": retry_policy: unknown field", monitors, lineD),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("POST /-/reload answer does not contain %q:\n%s", want, body)
		}
	}
	m := a.scrape(t)
	if v, _ := m.value("cpra_config_last_reload_successful"); v != 0 {
		t.Errorf("cpra_config_last_reload_successful = %v after a failed reload, want 0", v)
	}
	a0, c1, d0 := svcA.hits.Load(), svcC.hits.Load(), svcD.hits.Load()
	a.waitMetrics(t, "the running monitors to keep being checked", func(m metrics) []string {
		var miss []string
		miss = m.expect(miss, "cpra_checks_total", ">=", okChecks+6, "type", "http", "result", "success")
		miss = m.expect(miss, "cpra_monitors", "==", 3, "state", "healthy")
		miss = m.expect(miss, "cpra_config_last_reload_successful", "==", 0)
		return miss
	})
	waitFor(t, "a, c and d to keep being checked", func() (bool, string) {
		a, c, d := svcA.hits.Load(), svcC.hits.Load(), svcD.hits.Load()
		return a > a0 && c > c1 && d > d0, fmt.Sprintf("checks since the failed reload: a %d, c %d, d %d", a-a0, c-c1, d-d0)
	})

	// SIGHUP with the bad file: also refused, logged, and the agent lives.
	a.signal(t, syscall.SIGHUP)
	waitFor(t, "the second failed reload to be logged", func() (bool, string) {
		n := len(a.logEntries("reload failed; keeping the running configuration"))
		return n == 2, fmt.Sprintf("%d failed reloads logged", n)
	})
	if status, body := a.do(t, http.MethodGet, "/-/ready"); status != http.StatusOK {
		t.Errorf("/-/ready after failed reloads: %d %q", status, body)
	}

	// Fixing the file and reloading again succeeds and changes nothing.
	writeMonitors(t, monitors, good...)
	if status, body := a.do(t, http.MethodPost, "/-/reload"); status != http.StatusOK {
		t.Fatalf("POST /-/reload of the fixed file: status %d, want 200; body %q", status, body)
	}
	if v, _ := a.scrape(t).value("cpra_config_last_reload_successful"); v != 1 {
		t.Errorf("cpra_config_last_reload_successful = %v after a good reload, want 1", v)
	}
	loaded = a.logEntries("configuration loaded")
	if last := loaded[len(loaded)-1]; last["unchanged"] != 3.0 || last["added"] != 0.0 || last["removed"] != 0.0 {
		t.Errorf("reload of the unchanged file: %v, want 3 unchanged, none added or removed", last)
	}
}

// ---------------------------------------------------------------------------
// 6. --config.check.

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	t.Run("valid", func(t *testing.T) {
		stdout, stderr, err := runAgent(t, "--config.check", "--yaml=testdata/valid.yaml")
		if err != nil {
			t.Fatalf("--config.check on a valid file: %v, want exit status 0\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, "testdata/valid.yaml: 2 monitors OK") {
			t.Errorf("--config.check standard output %q does not report the 2 monitors", stdout)
		}
	})
	t.Run("two errors", func(t *testing.T) {
		stdout, stderr, err := runAgent(t, "--config.check", "--yaml=testdata/two-errors.yaml")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("--config.check on an invalid file: %v, want a non-zero exit status\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		for _, want := range []string{
			`testdata/two-errors.yaml:9: monitor "api-health": pulse_check.max_failures: must be at least 1, got 0`,
			`testdata/two-errors.yaml:17: monitor "db-port": colour_codes: unknown field`,
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("--config.check standard error does not contain %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("creates nothing", func(t *testing.T) {
		// A check validates: it opens no notifier's file, even one that a
		// load would create.
		dir := t.TempDir()
		codes := filepath.Join(dir, "codes.log")
		monitors := filepath.Join(dir, "monitors.yaml")
		text := "monitors:\n  - name: api\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}\n" +
			"    codes: {red: {notify: log, config: {file: " + codes + "}}}\n"
		if err := os.WriteFile(monitors, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, err := runAgent(t, "--config.check", "--yaml="+monitors); err != nil {
			t.Fatalf("--config.check: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if _, err := os.Stat(codes); !os.IsNotExist(err) {
			t.Errorf("--config.check left %s behind (stat: %v)", codes, err)
		}
	})
}

// ---------------------------------------------------------------------------
// 7. SIGTERM drains in-flight work and flushes pending codes, then exits 0.

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 20 * time.Second
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	drain := newService(t, true)
	pending := newService(t, true)

	// The remedy of "drain" holds its request until the test releases it,
	// so the intervention is in flight when SIGTERM arrives.
	remedyStarted, release := make(chan struct{}), make(chan struct{})
	var startedOnce, releaseOnce sync.Once
	releaseRemedy := func() { releaseOnce.Do(func() { close(release) }) }
	remedy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startedOnce.Do(func() { close(remedyStarted) })
		select {
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	})
	t.Cleanup(releaseRemedy) // before the server closes

	// The receiver of "pending"'s yellow fails the first delivery; with a
	// 10-minute backoff the code waits in the retry queue until shutdown,
	// which keeps the backoff and saves the code for the next start.
	type delivery struct {
		monitor, code string
		afterTerm     bool
	}
	var termSent atomic.Bool
	var mu sync.Mutex
	var deliveries []delivery
	receiver := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Monitor, Code string }
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		deliveries = append(deliveries, delivery{n.Monitor, n.Code, termSent.Load()})
		first := len(deliveries) == 1
		mu.Unlock()
		if first {
			http.Error(w, "receiver temporarily unavailable", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})

	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, fmt.Sprintf("shutdown_timeout: %v\ncodes:\n  initial_backoff: 10m\n  max_backoff: 10m\n", shutdownTimeout))
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors,
		httpMonitor("drain", drain.healthURL(), 2, webhookRemedy(remedy.URL+"/repair"), logCodes(codesFile)),
		httpMonitor("pending", pending.healthURL(), 1000, fmt.Sprintf(`    codes:
      yellow: {dispatch: true, notify: webhook, config: {url: %q}}
`, receiver.URL+"/codes")),
	)
	a := startAgent(t, "--config="+agentConfig, "--yaml="+monitors)

	for _, path := range []string{"/-/healthy", "/-/ready"} {
		if status, body := a.do(t, http.MethodGet, path); status != http.StatusOK {
			t.Errorf("GET %s while running: %d %q, want 200", path, status, body)
		}
	}
	select {
	case <-remedyStarted:
	case <-time.After(waitTimeout):
		t.Fatalf("the intervention for drain did not start within %v", waitTimeout)
	}
	a.waitMetrics(t, "pending's yellow to fail once and wait for its retry", func(m metrics) []string {
		return m.expect(nil, "cpra_codes_dispatched_total", ">=", 1, "code", "yellow", "notifier", "webhook", "result", "retry")
	})
	waitFor(t, "drain's yellow in the log", func() (bool, string) {
		got := colours(readCodes(t, codesFile, "drain"))
		return slices.Equal(got, []string{"yellow"}), fmt.Sprintf("codes for drain: %v", got)
	})

	termSent.Store(true)
	a.signal(t, syscall.SIGTERM)
	waitFor(t, "/-/ready to answer 503 while draining", func() (bool, string) {
		status, body := a.get("/-/ready")
		return status == http.StatusServiceUnavailable, fmt.Sprintf("%d %q", status, body)
	})
	if status, body := a.do(t, http.MethodGet, "/-/healthy"); status != http.StatusOK {
		t.Errorf("GET /-/healthy while draining: %d %q, want 200", status, body)
	}
	releaseRemedy() // the in-flight intervention succeeds: cyan, during shutdown

	if err := a.wait(t, shutdownTimeout+waitTimeout); err != nil {
		t.Fatalf("cpra-agent exited with %v after SIGTERM, want status 0", err)
	}
	if lines := readCodes(t, codesFile, "drain"); !slices.Equal(colours(lines), []string{"yellow", "cyan"}) {
		t.Errorf("codes for drain = %v, want yellow, cyan (the intervention that finished during shutdown); lines:\n%s",
			colours(lines), dump(lines))
	}
	mu.Lock()
	defer mu.Unlock()
	want := []delivery{{"pending", "yellow", false}}
	if !slices.Equal(deliveries, want) {
		t.Errorf("deliveries to the webhook receiver = %+v, want %+v (the failed one; its retry is 10 minutes away)", deliveries, want)
	}
	if saved := a.logEntries("codes not delivered before shutdown saved for the next start"); len(saved) != 1 || saved[0]["count"] != float64(1) {
		t.Errorf("saved for the next start: %v, want pending's yellow", saved)
	}
	if len(a.logEntries("shutdown complete")) == 0 {
		t.Errorf("no \"shutdown complete\" log entry")
	}
}

// ---------------------------------------------------------------------------
// 8. pprof is off unless asked for.

func TestPprof(t *testing.T) {
	t.Parallel()
	svc := newService(t, false)
	monitors := filepath.Join(t.TempDir(), "monitors.yaml")
	writeMonitors(t, monitors, httpMonitor("web", svc.healthURL(), 2))

	t.Run("off by default", func(t *testing.T) {
		addr := freeAddr(t)
		a := startAgent(t, "--yaml="+monitors, "--pprof.addr="+addr)
		hits := svc.hits.Load()
		waitFor(t, "the agent to check its monitor twice", func() (bool, string) { return svc.hits.Load() >= hits+2, "" })
		if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			conn.Close()
			t.Errorf("something listens on the pprof address %s without --pprof", addr)
		}
		if status, _ := a.do(t, http.MethodGet, "/debug/pprof/"); status != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/ on the web address: %d, want 404", status)
		}
		if e := a.logEntries("pprof listening"); len(e) != 0 {
			t.Errorf("pprof listening without --pprof: %v", e)
		}
	})
	t.Run("on", func(t *testing.T) {
		a := startAgent(t, "--yaml="+monitors, "--pprof", "--pprof.addr=127.0.0.1:0")
		var addr string
		waitFor(t, "the pprof address in the log", func() (bool, string) {
			if e := a.logEntries("pprof listening"); len(e) > 0 {
				addr, _ = e[0]["address"].(string)
			}
			return addr != "", ""
		})
		status, body := httpGet("http://" + addr + "/debug/pprof/")
		if status != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("GET http://%s/debug/pprof/: %d, want 200 and the profile index; body %.200q", addr, status, body)
		}
		if status, _ := a.do(t, http.MethodGet, "/debug/pprof/"); status != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/ on the web address: %d, want 404 (pprof has its own listener)", status)
		}
	})
}

// ---------------------------------------------------------------------------
// The agent process.

type agentProc struct {
	args   []string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait, once done is closed
	waited atomic.Bool   // the test expected the exit
	addr   string        // web address, host:port
}

// startAgent runs the agent with args (plus a loopback listen address the
// kernel picks and JSON logs), waits until it is ready, and stops it with
// SIGTERM when the test ends, expecting exit status 0. Its output is shown
// when the test fails.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	return startAgentEnv(t, nil, args...)
}

// startAgentEnv is startAgent with extra environment variables.
func startAgentEnv(t *testing.T, env []string, args ...string) *agentProc {
	t.Helper()
	a := launchAgent(t, env, args...)
	waitFor(t, "/-/ready to answer 200", func() (bool, string) {
		status, body := a.get("/-/ready")
		return status == http.StatusOK, fmt.Sprintf("%d %q", status, body)
	})
	return a
}

// launchAgent starts the agent and waits until it logs its listen address.
func launchAgent(t *testing.T, env []string, args ...string) *agentProc {
	t.Helper()
	return launchAgentVia(t, nil, env, args...)
}

// launchAgentVia is launchAgent through a wrapper command that execs the
// agent, its path and arguments appended (a shell that sets a limit).
func launchAgentVia(t *testing.T, wrapper []string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{
		args: append([]string{"--web.listen-address=127.0.0.1:0", "--log.format=json"}, args...),
		done: make(chan struct{}),
	}
	a.cmd = exec.Command(agentBin, a.args...)
	if len(wrapper) > 0 {
		a.cmd = exec.Command(wrapper[0], append(append(wrapper[1:len(wrapper):len(wrapper)], agentBin), a.args...)...)
	}
	a.cmd.Env = append(agentEnv(), env...)
	a.cmd.Dir = t.TempDir()
	a.cmd.Stdout = &a.stdout
	a.cmd.Stderr = &a.stderr
	a.cmd.SysProcAttr = sysProcAttr()
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start cpra-agent: %v", err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() { a.stop(t) })

	waitFor(t, "the agent to listen", func() (bool, string) {
		select {
		case <-a.done:
			t.Fatalf("cpra-agent exited before it listened: %v", a.err)
		default:
		}
		if e := a.logEntries("listening"); len(e) > 0 {
			a.addr, _ = e[0]["address"].(string)
		}
		return a.addr != "", ""
	})
	return a
}

// agentEnv is this process's environment without CPRA_* variables, which
// would configure the agent.
func agentEnv() []string {
	env := []string{"GOTRACEBACK=crash"} // SIGQUIT dumps running goroutines too
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CPRA_") && !strings.HasPrefix(kv, "GOTRACEBACK=") {
			env = append(env, kv)
		}
	}
	return env
}

func (a *agentProc) stop(t *testing.T) {
	select {
	case <-a.done:
		if !a.waited.Load() {
			t.Errorf("cpra-agent exited unexpectedly: %v", a.err)
		}
	default:
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
			if a.err != nil {
				t.Errorf("cpra-agent exited with %v after SIGTERM, want status 0", a.err)
			}
		case <-time.After(60 * time.Second):
			// SIGQUIT makes the Go runtime print every goroutine's stack.
			_ = a.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-a.done:
			case <-time.After(10 * time.Second):
				_ = a.cmd.Process.Kill()
				<-a.done
			}
			t.Errorf("cpra-agent did not exit within 60s of SIGTERM; stopped it with SIGQUIT (goroutine dump in its standard error)")
		}
	}
	if strings.Contains(a.stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in cpra-agent (see its standard error)")
	}
	if t.Failed() {
		t.Logf("cpra-agent %s\n--- standard error:\n%s\n--- standard output:\n%s",
			strings.Join(a.args, " "), a.stderr.String(), a.stdout.String())
	}
}

func (a *agentProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to cpra-agent: %v", sig, err)
	}
}

// wait waits for the agent to exit and returns its exit error.
func (a *agentProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	a.waited.Store(true)
	select {
	case <-a.done:
		return a.err
	case <-time.After(timeout):
		t.Fatalf("cpra-agent did not exit within %v", timeout)
		return nil
	}
}

// waitSettled waits until every monitor is healthy and has no incident
// open: its codes in the log, if any, end with green.
func (a *agentProc) waitSettled(t *testing.T, codesFile string, monitors ...string) {
	t.Helper()
	waitFor(t, "every monitor to be healthy", func() (bool, string) {
		for _, name := range monitors {
			if got := colours(readCodes(t, codesFile, name)); len(got) > 0 && got[len(got)-1] != "green" {
				return false, fmt.Sprintf("codes for %s: %v", name, got)
			}
		}
		m, err := a.metrics()
		if err != nil {
			return false, err.Error()
		}
		miss := m.expect(nil, "cpra_monitors", "==", float64(len(monitors)), "state", "healthy")
		return len(miss) == 0, strings.Join(miss, "; ")
	})
}

// logEntries returns the agent's JSON log entries with the message msg.
func (a *agentProc) logEntries(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(a.stderr.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

var client = &http.Client{Timeout: 10 * time.Second}

// get requests path from the agent; status 0 means no answer.
func (a *agentProc) get(path string) (int, string) { return httpGet("http://" + a.addr + path) }

func httpGet(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// do sends a request to the agent and fails the test when it gets no answer.
func (a *agentProc) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// ---------------------------------------------------------------------------
// Metrics.

type metrics map[string]*dto.MetricFamily

func (a *agentProc) metrics() (metrics, error) {
	resp, err := client.Get("http://" + a.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

func (a *agentProc) scrape(t *testing.T) metrics {
	t.Helper()
	m, err := a.metrics()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return m
}

// waitMetrics scrapes until check reports nothing missing.
func (a *agentProc) waitMetrics(t *testing.T, what string, check func(metrics) []string) {
	t.Helper()
	waitFor(t, what, func() (bool, string) {
		m, err := a.metrics()
		if err != nil {
			return false, err.Error()
		}
		miss := check(m)
		return len(miss) == 0, strings.Join(miss, "; ")
	})
}

// value sums the series of name whose labels include the given name/value
// pairs (histograms count observations). found says whether any matched.
func (m metrics) value(name string, labels ...string) (sum float64, found bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	for _, s := range f.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		found = true
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func hasLabels(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, lp := range s.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// expect appends to miss a description of name{labels} unless its value
// compares to want with op ("==", ">=", ">"). A missing series counts as 0
// only for "== 0".
func (m metrics) expect(miss []string, name, op string, want float64, labels ...string) []string {
	got, found := m.value(name, labels...)
	var ok bool
	switch op {
	case "==":
		ok = got == want && (found || want == 0)
	case ">=":
		ok = found && got >= want
	case ">":
		ok = found && got > want
	default:
		panic("unknown op " + op)
	}
	if ok {
		return miss
	}
	series := name + "{" + strings.Join(labels, ",") + "}"
	if !found {
		return append(miss, fmt.Sprintf("%s missing, want %s %v", series, op, want))
	}
	return append(miss, fmt.Sprintf("%s = %v, want %s %v", series, got, op, want))
}

// expectHistogram appends to miss unless name is a histogram with
// observations in the series with the given labels.
func (m metrics) expectHistogram(miss []string, name string, labels ...string) []string {
	f := m[name]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		return append(miss, name+" is not a histogram")
	}
	return m.expect(miss, name, ">", 0, labels...)
}

// ---------------------------------------------------------------------------
// Codes written by the log notifier.

type codeLine struct {
	Time     string   `json:"time"`
	Monitor  string   `json:"monitor"`
	Code     string   `json:"code"`
	Severity string   `json:"severity"`
	State    string   `json:"state"`
	Message  string   `json:"message"`
	Groups   []string `json:"groups"`
}

// readCodes returns the lines of the log notifier's file for monitor, in
// order. As the notifier documents, a line that does not parse (a partial
// write that was retried) is skipped.
func readCodes(t *testing.T, path, monitor string) []codeLine {
	t.Helper()
	var out []codeLine
	for _, l := range readAllCodes(t, path) {
		if l.Monitor == monitor {
			out = append(out, l)
		}
	}
	return out
}

func colours(lines []codeLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Code
	}
	return out
}

func dump(lines []codeLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "  %+v\n", l)
	}
	return b.String()
}

func expectLine(t *testing.T, l codeLine, code, severity, state, inMessage string) {
	t.Helper()
	if l.Code != code || l.Severity != severity || l.State != state || !strings.Contains(l.Message, inMessage) {
		t.Errorf("code line %+v, want code %s, severity %q, state %s and a message containing %q",
			l, code, severity, state, inMessage)
	}
}

// ---------------------------------------------------------------------------
// Monitor files.

func httpMonitor(name, url string, maxFailures int, blocks ...string) string {
	return fmt.Sprintf(`  - name: %s
    groups: [e2e]
    pulse_check:
      type: http
      interval: %s
      timeout: %s
      max_failures: %d
      healthy_threshold: 2
      config: {url: %q}
`, name, checkInterval, checkTimeout, maxFailures, url) + strings.Join(blocks, "")
}

func tcpMonitor(name, addr string, blocks ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf(`  - name: %s
    pulse_check:
      type: tcp
      interval: %s
      timeout: %s
      max_failures: 2
      healthy_threshold: 2
      config: {host: %s, port: %s}
`, name, checkInterval, checkTimeout, host, port) + strings.Join(blocks, "")
}

func webhookRemedy(url string) string {
	return fmt.Sprintf(`    intervention:
      type: webhook
      max_per_window: 2
      window: 1h
      config: {url: %q, timeout: 40s}
`, url)
}

func scriptRemedy(path string) string {
	return fmt.Sprintf(`    intervention:
      type: script
      max_per_window: 2
      window: 1h
      config: {script: %q, timeout: 40s}
`, path)
}

// logCodes sends yellow and red (and so cyan and green) to the log notifier.
func logCodes(file string) string {
	return fmt.Sprintf(`    codes:
      yellow: {dispatch: true, notify: log, config: {file: %q}}
      red:    {dispatch: true, notify: log, config: {file: %q}}
`, file, file)
}

// writeMonitors writes a monitor file and returns its text.
func writeMonitors(t *testing.T, path string, monitors ...string) string {
	t.Helper()
	text := "monitors:\n" + strings.Join(monitors, "\n")
	writeFile(t, path, 0o644, text)
	return text
}

func writeFile(t *testing.T, path string, mode os.FileMode, text string) {
	t.Helper()
	// Write and rename, so the agent never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// lineOf is the 1-based number of the only line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	n := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			if n != 0 {
				t.Fatalf("%q is on lines %d and %d", s, n, i+1)
			}
			n = i + 1
		}
	}
	if n == 0 {
		t.Fatalf("%q not found", s)
	}
	return n
}

// ---------------------------------------------------------------------------
// Servers the test owns.

// service is a health endpoint the test switches between 200 and 503.
type service struct {
	*httptest.Server
	hits atomic.Int64 // requests

	mu      sync.Mutex
	failing bool
	ok      int64 // 200 answers
}

func newService(t *testing.T, failing bool) *service {
	s := &service{failing: failing}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		failing := s.failing
		if !failing {
			s.ok++
		}
		s.mu.Unlock()
		if failing {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) healthURL() string { return s.URL + "/health" }

// set switches the service and returns how many 200s it had answered.
func (s *service) set(failing bool) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
	return s.ok
}

// waitOK waits until the service has answered more than n 200s.
func (s *service) waitOK(ctx context.Context, n int64) bool {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		ok := s.ok
		s.mu.Unlock()
		if ok > n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// freeAddr returns a loopback address nothing listened on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runAgent runs the agent to completion (for --config.check).
func runAgent(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	cmd.Env = agentEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cpra-agent %s did not finish within %v", strings.Join(args, " "), waitTimeout)
	}
	return out.String(), errOut.String(), err
}

// ---------------------------------------------------------------------------
// Helpers.

// waitFor polls cond until it holds, and fails the test with cond's last
// detail when it does not within waitTimeout.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s; last: %s", waitTimeout, what, detail)
		}
		time.Sleep(pollEvery)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestVersionFlag(t *testing.T) {
	stdout, _, err := runAgent(t, "--version")
	if err != nil || !strings.HasPrefix(stdout, "cpra-agent, version ") || !strings.Contains(stdout, "go version: go1.") {
		t.Errorf("--version: %v\n%s", err, stdout)
	}
}

// readAllCodes returns every code line in the log notifier's file, each
// checked to have a time.
func readAllCodes(t *testing.T, path string) []codeLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read codes: %v", err)
	}
	var out []codeLine
	for line := range strings.Lines(string(data)) {
		var l codeLine
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l.Time == "" {
			t.Errorf("code line without time: %s", line)
		}
		out = append(out, l)
	}
	return out
}
