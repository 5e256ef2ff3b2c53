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

	began := time.Now()
	a.signal(t, os.Interrupt)
	if err := a.wait(t, time.Minute); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	if took := time.Since(began); took > 40*time.Second {
		t.Errorf("shutdown took %v with a 1m timeout: it waited on the hung webhook instead of giving up on it", took.Round(time.Second))
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
