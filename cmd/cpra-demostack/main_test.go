package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(url string) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The whole loop on loopback: a code of the agent reaches Alertmanager,
// and an Alertmanager alert about a monitor reaches the agent (issue #13,
// item 8). It takes the demo's schedule: under a minute.
func TestDemoStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager")
	}
	for _, bin := range []string{"prometheus"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: make test-deps (as root) installs it", bin)
		}
	}
	if _, err := exec.LookPath("prometheus-alertmanager"); err != nil {
		if _, err := exec.LookPath("alertmanager"); err != nil {
			t.Skip("Alertmanager not installed: make test-deps (as root) installs it")
		}
	}
	agent := filepath.Join(t.TempDir(), "cpra-agent")
	if out, err := exec.Command("go", "build", "-o", agent, "../cpra-agent").CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, out)
	}
	o := options{agent: agent, prometheus: "prometheus", alertmanager: "prometheus-alertmanager",
		agentAddr: freeAddr(t), promAddr: freeAddr(t), amAddr: freeAddr(t), repo: "../..", dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	inbound := regexp.MustCompile(`cpra_alertmanager_webhook_alerts_total\{result="monitor",status="firing"\} (\d+)`)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		am := get("http://" + o.amAddr + "/api/v2/alerts")
		m := inbound.FindStringSubmatch(get("http://" + o.agentAddr + "/metrics"))
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if strings.Contains(am, `"alertname":"CPRAMonitor"`) && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code in Alertmanager (%v) or no alert into the agent (%d) after 3 minutes; output:\n%s",
				strings.Contains(am, "CPRAMonitor"), n, out.String())
		}
		time.Sleep(time.Second) // polling the stack, not timing it
	}
	for _, want := range []string{"cpra-agent:   http://" + o.agentAddr, "Prometheus:   http://" + o.promAddr, "Alertmanager: http://" + o.amAddr} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the URLs printed do not include %q:\n%s", want, out.String())
		}
	}
}
