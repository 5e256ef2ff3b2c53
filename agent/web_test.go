package agent

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startWeb serves a's endpoints (and pprof) on real loopback sockets until
// the test ends.
func startWeb(t *testing.T, cfg config.Agent, a *Agent) {
	t.Helper()
	servers, err := a.serve(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			_ = s.Close()
		}
	})
	waitUntil(t, "the web server to listen", func() bool {
		c, err := net.Dial("tcp", cfg.Web.ListenAddress)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// webAgent runs an agent with basic auth in its web config and short web
// limits, serving on loopback.
func webAgent(t *testing.T) (*Agent, config.Agent) {
	t.Helper()
	saved := webLimits
	webLimits.idle, webLimits.body = 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { webLimits = saved })
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("basic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultAgent()
	cfg.Web.ListenAddress = freeAddr(t)
	cfg.Web.ConfigFile = webCfg
	cfg.Pprof.Enabled, cfg.Pprof.Addr = true, freeAddr(t)
	a, ctx := startTestAgent(t, cfg, fixed("monitors: []\n"), nil, io.Discard)
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a.ready.Store(true)
	startWeb(t, cfg, a)
	return a, cfg
}

func do(t *testing.T, method, url string, header map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "pw")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The state-changing endpoints refuse what a page on another site could
// make a browser send: cross-site POSTs, and non-JSON webhook bodies.
func TestWebRefusesCrossSiteRequests(t *testing.T) {
	_, cfg := webAgent(t)
	base := "http://" + cfg.Web.ListenAddress
	json := map[string]string{"Content-Type": "application/json"}
	payload := `{"version":"4","status":"firing","alerts":[]}`
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		says               string
	}{
		{"reload, same origin", "POST", "/-/reload", nil, "", 200, "Reloaded"},
		{"reload, cross-site", "POST", "/-/reload", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403, "cross-site request"},
		{"reload, foreign Origin", "POST", "/-/reload", map[string]string{"Origin": "http://evil.example"}, "", 403, "cross-site request"},
		{"reload by GET", "GET", "/-/reload", nil, "", 405, "POST /-/reload"},
		{"webhook, JSON", "POST", "/api/v1/alertmanager/webhook", json, payload, 400, "invalid Alertmanager webhook payload"},
		{"webhook, form text", "POST", "/api/v1/alertmanager/webhook",
			map[string]string{"Content-Type": "text/plain"}, payload, 415, "application/json"},
		{"webhook, cross-site", "POST", "/api/v1/alertmanager/webhook",
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, payload, 403, "cross-site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, header := do(t, tt.method, base+tt.path, tt.header, tt.body)
			if status != tt.status || !strings.Contains(body, tt.says) {
				t.Errorf("%s %s: %d %q, want %d saying %q", tt.method, tt.path, status, body, tt.status, tt.says)
			}
			if status == 405 && header.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q, want POST", header.Get("Allow"))
			}
		})
	}
}

// pprof is behind the web config's basic auth, as the other endpoints.
func TestPprofNeedsTheWebConfigsAuth(t *testing.T) {
	_, cfg := webAgent(t)
	resp, err := http.Get("http://" + cfg.Pprof.Addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("pprof without credentials: %d, want 401", resp.StatusCode)
	}
	if status, _, _ := do(t, "GET", "http://"+cfg.Pprof.Addr+"/debug/pprof/cmdline", nil, ""); status != 200 {
		t.Errorf("pprof with credentials: %d, want 200", status)
	}
}

// An idle keep-alive connection is closed by the server, and a webhook
// body trickled a byte at a time is cut off, instead of holding a socket.
func TestWebCutsOffIdleAndTricklingClients(t *testing.T) {
	_, cfg := webAgent(t)

	idle, err := net.Dial("tcp", cfg.Web.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /-/healthy HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46cHc=\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(idle)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second)) // only so a broken server cannot hang the test
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("an idle keep-alive connection was not closed by the server: %v", err)
	}

	slow, err := net.Dial("tcp", cfg.Web.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "POST /api/v1/alertmanager/webhook HTTP/1.1\r\nHost: x\r\n"+
		"Authorization: Basic YWRtaW46cHc=\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// Keep trickling until the server gives up on the body.
	sent := 1
	for ; sent < 1000; sent++ {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(slow, " "); err != nil {
			break // the server closed the connection
		}
		_ = slow.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := slow.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
			break // an answer (or the close) came before the body was complete
		}
	}
	t.Logf("the server stopped reading after %d bytes", sent)
	if sent == 1000 {
		t.Errorf("the server read a body trickled over %v to its end", 100*time.Millisecond*1000)
	}
}
