package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// hangingReceiver accepts connections, reads what is sent, and never
// answers: a receiver that is up but hung.
type hangingReceiver struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingReceiver{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *hangingReceiver) url() string { return "http://" + h.ln.Addr().String() + "/hook" }

// One hung receiver delays only its own codes (issue #22, item 1): with 400
// monitors down, their yellows going to a webhook that accepts connections
// and never answers and their reds to a real Alertmanager, every red
// reaches Alertmanager while the webhook hangs. SIGTERM then drains
// Alertmanager, stops waiting for the stalled webhook long before the
// shutdown timeout, and saves its codes in the state directory.
func TestHungReceiverHoldsBackOnlyItsOwnCodes(t *testing.T) {
	t.Parallel()
	const monitors = 400 // more than the code pipeline's 256 workers
	dir := t.TempDir()
	am := realserver.StartAlertmanager(t)
	hook := newHangingReceiver(t)
	down := newService(t, true)
	agentConfig := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentConfig, 0o644, "shutdown_timeout: 1m\ncodes: {attempt_timeout: 30s}\n")
	codes := fmt.Sprintf(`    codes:
      yellow: {notify: webhook, config: {url: %q, timeout: 30s}}
      red: {notify: alertmanager, config: {url: %q, resend_interval: 1h}}
      green: {dispatch: false}
`, hook.url(), am.URL)
	var list []string
	for i := range monitors {
		list = append(list, httpMonitor(fmt.Sprintf("svc-%03d", i), fmt.Sprintf("%s/health/%d", down.URL, i), 2, codes))
	}
	monitorFile := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitorFile, list...)
	storage := filepath.Join(dir, "state")
	a := startAgent(t, "--config="+agentConfig, "--yaml="+monitorFile, "--storage.path="+storage)

	waitFor(t, fmt.Sprintf("all %d reds in Alertmanager while the webhook hangs", monitors), func() (bool, string) {
		firing := firingIn(t, am)
		red := 0
		for _, c := range firing {
			if c == "red" {
				red++
			}
		}
		return red == monitors, fmt.Sprintf("%d reds in Alertmanager", red)
	})

	a.signal(t, os.Interrupt)
	if err := a.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	// The flush gave up on the webhook alone, with time left before the
	// shutdown deadline: it did not spend the shutdown waiting on it.
	gaveUp := a.logEntries("flush: giving up on receivers that do not get their codes through; their codes are kept")
	if len(gaveUp) != 1 {
		t.Fatalf("%d give-up lines in the log, want 1:\n%s", len(gaveUp), a.stderr.String())
	}
	if stalled, left := fmt.Sprint(gaveUp[0]["stalled"]), gaveUp[0]["deadline_in"]; stalled != "[webhook:"+hook.url()+"]" ||
		left == nil || left.(float64) <= 0 {
		t.Errorf("gave up on %s with %v ns left before the deadline; want only the hung webhook, before the deadline", stalled, left)
	}
	data, err := os.ReadFile(filepath.Join(storage, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Pending []struct {
			Destination  string
			Notification struct{ Code string }
		}
	}
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	yellows := 0
	for _, p := range saved.Pending {
		if strings.HasPrefix(p.Destination, "webhook:") && p.Notification.Code == "yellow" {
			yellows++
		}
	}
	if yellows != monitors {
		t.Errorf("%d yellows for the hung webhook saved at shutdown, want %d", yellows, monitors)
	}
}
