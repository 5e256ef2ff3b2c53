package main

// End-to-end tests of the agent's own telemetry endpoint: a real scrape
// linted by promtool, the OpenMetrics format, and /metrics secured through
// --web.config.file (exporter-toolkit basic auth and TLS).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const promtoolMissing = "promtool not installed: run `make test` (it installs the prometheus package) or apt-get install prometheus"

// TestPromtoolCheckMetrics lints a real scrape of a running agent, with
// checks done so that the labelled families have series, with promtool.
func TestPromtoolCheckMetrics(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("promtool tests are skipped with -short")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip(promtoolMissing)
	}
	a := startAgent(t, "--yaml="+oneMonitor(t))
	a.waitMetrics(t, "checks to be counted", func(m metrics) []string {
		miss := m.expect(nil, "cpra_checks_total", ">", 0, "type", "http", "result", "success")
		return m.expectHistogram(miss, "cpra_check_duration_seconds", "type", "http")
	})
	status, body := a.get("/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %.200q", status, body)
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on the agent's /metrics: %v\n%s", err, out)
	}
}

// TestOpenMetrics scrapes /metrics asking for OpenMetrics, as Prometheus
// does when it prefers it.
func TestOpenMetrics(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "--yaml="+oneMonitor(t))
	req, err := http.NewRequest(http.MethodGet, "http://"+a.addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %.200q", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want application/openmetrics-text", ct)
	}
	if !strings.HasSuffix(string(body), "# EOF\n") {
		t.Errorf("the OpenMetrics exposition does not end with \"# EOF\"; it ends with %q", tail(body))
	}
	if !strings.Contains(string(body), "\ncpra_build_info{") {
		t.Errorf("no cpra_build_info series in the OpenMetrics exposition")
	}
}

// TestWebConfigBasicAuth protects the endpoints with a bcrypt-hashed
// password in the exporter-toolkit web configuration.
func TestWebConfigBasicAuth(t *testing.T) {
	t.Parallel()
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	writeFile(t, webConfig, 0o600, fmt.Sprintf("basic_auth_users:\n  %s: %q\n", user, hash))

	authed := &http.Client{Timeout: client.Timeout, Transport: basicAuth{user, password}}
	a := startAgentWith(t, authed, "http", "--yaml="+oneMonitor(t), "--web.config.file="+webConfig)

	tests := []struct {
		name   string
		client *http.Client
		want   int
	}{
		{"no credentials", client, http.StatusUnauthorized},
		{"wrong password", &http.Client{Timeout: client.Timeout, Transport: basicAuth{user, "wrong"}}, http.StatusUnauthorized},
		{"unknown user", &http.Client{Timeout: client.Timeout, Transport: basicAuth{"grafana", password}}, http.StatusUnauthorized},
		{"correct credentials", authed, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := getWith(tt.client, "http://"+a.addr+"/metrics")
			if status != tt.want {
				t.Fatalf("GET /metrics: %d, want %d; body %.200q", status, tt.want, body)
			}
			if hasBuildInfo := strings.Contains(body, "cpra_build_info"); hasBuildInfo != (tt.want == http.StatusOK) {
				t.Errorf("GET /metrics answered %d and the body has cpra_build_info: %v", status, hasBuildInfo)
			}
		})
	}
}

// TestWebConfigTLS serves the endpoints over TLS with a self-signed
// certificate for 127.0.0.1 written by the test.
func TestWebConfigTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := selfSignedCert(t, certFile, keyFile)
	webConfig := filepath.Join(dir, "web.yml")
	writeFile(t, webConfig, 0o600, fmt.Sprintf("tls_server_config:\n  cert_file: %q\n  key_file: %q\n", certFile, keyFile))

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	trusting := &http.Client{
		Timeout:   client.Timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}
	a := startAgentWith(t, trusting, "https", "--yaml="+oneMonitor(t), "--web.config.file="+webConfig)

	t.Run("https with the certificate trusted", func(t *testing.T) {
		status, body := getWith(trusting, "https://"+a.addr+"/metrics")
		if status != http.StatusOK || !strings.Contains(body, "cpra_build_info") {
			t.Errorf("GET https://%s/metrics: %d, want 200 and cpra_build_info; body %.200q", a.addr, status, body)
		}
	})
	t.Run("https without trusting the certificate", func(t *testing.T) {
		status, body := getWith(client, "https://"+a.addr+"/metrics")
		if status != 0 || !strings.Contains(body, "certificate") {
			t.Errorf("GET https://%s/metrics with the system roots: %d %.200q, want a certificate error", a.addr, status, body)
		}
	})
	t.Run("plain http", func(t *testing.T) {
		// Go's TLS server answers a plain HTTP request with 400 and closes.
		status, body := getWith(client, "http://"+a.addr+"/metrics")
		if status == http.StatusOK || strings.Contains(body, "cpra_build_info") {
			t.Errorf("GET http://%s/metrics on the TLS port: %d, want a failure; body %.200q", a.addr, status, body)
		}
	})
}

// ---------------------------------------------------------------------------
// Helpers.

// oneMonitor writes a monitor file with one healthy HTTP monitor and
// returns its path.
func oneMonitor(t *testing.T) string {
	t.Helper()
	svc := newService(t, false)
	path := filepath.Join(t.TempDir(), "monitors.yaml")
	writeMonitors(t, path, httpMonitor("web", svc.healthURL(), 2))
	return path
}

// startAgentWith is startAgent for an agent whose endpoints need
// credentials or TLS (--web.config.file): it waits for /-/ready at
// scheme://address through readyClient.
func startAgentWith(t *testing.T, readyClient *http.Client, scheme string, args ...string) *agentProc {
	t.Helper()
	a := launchAgent(t, nil, args...)
	waitFor(t, "/-/ready to answer 200 over "+scheme, func() (bool, string) {
		// A web configuration exporter-toolkit rejects stops the web
		// server, not the agent: fail at once, with its reason.
		if e := a.logEntries("web server stopped"); len(e) > 0 {
			t.Fatalf("the agent's web server stopped: %v", e[0]["err"])
		}
		status, body := getWith(readyClient, scheme+"://"+a.addr+"/-/ready")
		return status == http.StatusOK, fmt.Sprintf("%d %q", status, body)
	})
	return a
}

// getWith requests url with c; status 0 means no answer, and the body is
// then the error.
func getWith(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// basicAuth is a transport that sends HTTP basic auth credentials.
type basicAuth struct{ user, password string }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return http.DefaultTransport.RoundTrip(r)
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files and returns the certificate.
func selfSignedCert(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "cpra-agent test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root, for the client's pool
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certFile, 0o600, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, 0o600, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return cert
}

// tail is the end of b, for messages.
func tail(b []byte) string {
	if len(b) > 80 {
		b = b[len(b)-80:]
	}
	return string(b)
}

// TestBadWebConfigStopsTheAgent: a web config that cannot be used must not
// leave the agent running without endpoints.
func TestBadWebConfigStopsTheAgent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, 0o644, "tls_server_config:\n  cert_file: "+filepath.Join(dir, "missing.crt")+"\n  key_file: "+filepath.Join(dir, "missing.key")+"\n")
	_, stderr, err := runAgent(t, "--web.listen-address=127.0.0.1:0", "--web.config.file="+webCfg)
	if err == nil {
		t.Fatal("the agent started with a web config whose certificate does not exist")
	}
	if !strings.Contains(stderr, "web config") || !strings.Contains(stderr, "missing.crt") {
		t.Errorf("the error does not name the web config and the missing file:\n%s", stderr)
	}
}
