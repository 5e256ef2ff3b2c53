package httpcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// newFromYAML builds a prober from YAML text and returns it with its address.
func newFromYAML(t *testing.T, text string) (pulse.Prober, string) {
	t.Helper()
	p, addr, err := Kind.New(spectest.Block(t, text), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, addr
}

// probe runs one probe with a generous deadline.
func probe(t *testing.T, p pulse.Prober, address string) pulse.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: address})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"missing url", "method: GET\n", "line 1: url: required"},
		{"empty block", "", "line 1: url: required"},
		{"bad scheme", "url: ftp://127.0.0.1/\n", `line 1: url: scheme must be http or https, got "ftp"`},
		{"no scheme", "url: 127.0.0.1:8080\n", `line 1: url: invalid URL: first path segment in URL cannot contain colon`},
		{"no host", "url: http:///health\n", `line 1: url: missing host in "http:///health"`},
		{"bad url", "url: 'http://[::1'\n", `line 1: url: invalid URL: missing ']' in host`},
		{"bad method", "url: http://127.0.0.1/\nmethod: GE T\n", `line 2: method: invalid HTTP method "GE T"`},
		{"bad status", "url: http://127.0.0.1/\nvalid_status_codes:\n  - 200\n  - 700\n",
			"line 4: valid_status_codes[1]: must be an HTTP status code (100-599), got 700"},
		{"negative retries", "url: http://127.0.0.1/\nretries: -1\n", "line 2: retries: must be 0 or more, got -1"},
		{"bad header name", "url: http://127.0.0.1/\nheaders:\n  X-Ok: 1\n  bad name: x\n", "line 4: headers.bad name: invalid header name"},
		{"bad header value", "url: http://127.0.0.1/\nheaders:\n  X-A: \"a\\nb\"\n",
			"line 3: headers.X-A: invalid header value: control characters are not allowed"},
		{"duplicate header", "url: http://127.0.0.1/\nheaders:\n  X-A: 1\n  x-a: 2\n",
			"line 4: headers.x-a: duplicate header (names are case-insensitive)"},
		{"duplicate of an empty header", "url: http://127.0.0.1/\nheaders:\n  X-A: ''\n  x-a: 2\n",
			"line 4: headers.x-a: duplicate header (names are case-insensitive)"},
		{"bad proxy", "url: http://127.0.0.1/\nproxy_url: ftp://127.0.0.1:21\n",
			`line 2: proxy_url: scheme must be http, https, socks5 or socks5h, got "ftp"`},
		{"unknown key", "url: http://127.0.0.1/\ntimeout: 5s\n",
			"line 2: timeout: unknown field (known: authorization, basic_auth, body, body_size_limit, enable_http2, fail_if_body_json_not_matches, fail_if_body_matches_regexp, fail_if_body_not_matches_regexp, fail_if_header_matches, fail_if_header_not_matches, follow_redirects, headers, max_connections_per_host, max_response_time, method, oauth2, proxy_url, retries, tls_config, tls_expiry_warning, url, valid_status_codes)"},
		{"unknown tls key", "url: http://127.0.0.1/\ntls_config:\n  cipher: x\n",
			"line 3: tls_config.cipher: unknown field (known: ca_file, cert_file, insecure_skip_verify, key_file, min_version, server_name)"},
		{"missing CA file", "url: https://127.0.0.1/\ntls_config:\n  ca_file: /nonexistent/ca.pem\n",
			"line 2: tls_config: unable to read CA cert: unable to read file /nonexistent/ca.pem: open /nonexistent/ca.pem: no such file or directory"},
		{"bad TLS version", "url: https://127.0.0.1/\ntls_config: {min_version: TLS9}\n",
			`line 2: tls_config.min_version: must be TLS10, TLS11, TLS12 or TLS13, got "TLS9"`},
		{"key without cert", "url: https://127.0.0.1/\ntls_config: {key_file: /k.pem}\n",
			"line 2: tls_config: cert_file and key_file go together"},
		{"wrong type", "url: http://127.0.0.1/\nfollow_redirects: sometimes\n",
			`line 2: follow_redirects: expected a boolean value, got "sometimes"`},
		{"every problem", "url: ftp://x/\nmethod: \"a b\"\nretries: -2\n",
			"line 1: url: scheme must be http or https, got \"ftp\"\n" +
				"line 2: method: invalid HTTP method \"a b\"\n" +
				"line 3: retries: must be 0 or more, got -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{})
			if err == nil {
				t.Fatalf("New succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p, addr, err := Kind.New(spectest.Block(t, "url: http://127.0.0.1:8080/health\n"), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if addr != "http://127.0.0.1:8080/health" {
		t.Errorf("address = %q", addr)
	}
	pr := p.(*prober)
	if pr.method != "GET" || pr.retries != 0 || pr.body != "" || pr.host != "" || len(pr.valid) != 0 {
		t.Errorf("defaults: %+v", pr)
	}
	if got := pr.header.Get("User-Agent"); got != "cpra-agent" {
		t.Errorf("User-Agent = %q", got)
	}
	if pr.client.CheckRedirect != nil {
		t.Error("CheckRedirect set, but redirects are followed by default")
	}
	tr := pr.client.Transport.(*http.Transport)
	if tr.Proxy != nil || tr.DisableKeepAlives || tr.MaxIdleConnsPerHost < 2 {
		t.Errorf("transport: proxy set %v, keep-alives disabled %v, idle per host %d",
			tr.Proxy != nil, tr.DisableKeepAlives, tr.MaxIdleConnsPerHost)
	}
}

// statusServer answers every request with code.
func statusServer(t *testing.T, code int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		extra  string
		want   bool
		reason string
	}{
		{"200 default", 200, "", true, ""},
		{"204 default", 204, "", true, ""},
		{"299 default", 299, "", true, ""},
		{"301 default", 301, "", false, "status 301"},
		{"404 default", 404, "", false, "status 404"},
		{"503 default", 503, "", false, "status 503"},
		{"404 listed", 404, "valid_status_codes: [200, 404]", true, ""},
		{"200 not listed", 200, "valid_status_codes: [204]", false, "status 200"},
		{"503 listed", 503, "valid_status_codes: [503]", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := statusServer(t, tt.code)
			p, addr := newFromYAML(t, "url: "+srv.URL+"\n"+tt.extra+"\n")
			res := probe(t, p, addr)
			if res.OK != tt.want || res.Reason != tt.reason {
				t.Errorf("got %+v, want OK=%v reason %q", res, tt.want, tt.reason)
			}
		})
	}
}

// request is what a recording server saw.
type request struct {
	method, path, host, body string
	header                   http.Header
}

func recordingServer(t *testing.T) (*httptest.Server, <-chan request) {
	t.Helper()
	seen := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- request{r.Method, r.URL.RequestURI(), r.Host, string(body), r.Header.Clone()}
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func TestRequestAsConfigured(t *testing.T) {
	srv, seen := recordingServer(t)
	p, addr := newFromYAML(t, `
url: `+srv.URL+`/health?deep=1
method: POST
headers:
  X-Token: secret
  content-type: application/json
  User-Agent: custom/1.0
  Host: api.internal
body: '{"ping":true}'
`)
	if res := probe(t, p, addr); !res.OK {
		t.Fatalf("probe failed: %s", res.Reason)
	}
	r := <-seen
	if r.method != "POST" || r.path != "/health?deep=1" || r.body != `{"ping":true}` || r.host != "api.internal" {
		t.Errorf("server saw %s %s host %q body %q", r.method, r.path, r.host, r.body)
	}
	for name, want := range map[string]string{
		"X-Token": "secret", "Content-Type": "application/json", "User-Agent": "custom/1.0",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

func TestDefaultRequest(t *testing.T) {
	srv, seen := recordingServer(t)
	p, addr := newFromYAML(t, "url: "+srv.URL+"/\n")
	if res := probe(t, p, addr); !res.OK {
		t.Fatalf("probe failed: %s", res.Reason)
	}
	r := <-seen
	if r.method != "GET" || r.body != "" || r.header.Get("User-Agent") != "cpra-agent" {
		t.Errorf("server saw %s body %q User-Agent %q", r.method, r.body, r.header.Get("User-Agent"))
	}
}

// TestSharedProber probes two servers concurrently through one Prober: the
// address comes from the target, never from the block the Prober was built
// from.
func TestSharedProber(t *testing.T) {
	up, down := statusServer(t, 200), statusServer(t, 503)
	p, _ := newFromYAML(t, "url: http://127.0.0.1:1/unused\n")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			addr, want := up.URL, true
			if i%2 == 1 {
				addr, want = down.URL, false
			}
			if res := probe(t, p, addr); res.OK != want {
				t.Errorf("probe %s: %+v, want OK=%v", addr, res, want)
			}
		})
	}
	wg.Wait()
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p, addr := newFromYAML(t, "url: "+srv.URL+"\n")
	res := probe(t, p, addr)
	if res.OK || !strings.Contains(res.Reason, "certificate") || !strings.HasPrefix(res.Reason, "GET "+srv.URL+": ") {
		t.Errorf("untrusted certificate: got %+v, want a certificate failure", res)
	}

	p, addr = newFromYAML(t, "url: "+srv.URL+"\ntls_config: {insecure_skip_verify: true}\n")
	if res := probe(t, p, addr); !res.OK {
		t.Errorf("insecure_skip_verify: %+v", res)
	}
}

func TestTLSServerName(t *testing.T) {
	names := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		select {
		case names <- hello.ServerName:
		default:
		}
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p, addr := newFromYAML(t, "url: "+srv.URL+"\ntls_config: {insecure_skip_verify: true, server_name: api.internal}\n")
	if res := probe(t, p, addr); !res.OK {
		t.Fatalf("probe: %+v", res)
	}
	if got := <-names; got != "api.internal" {
		t.Errorf("SNI = %q, want api.internal", got)
	}
}

// flakyServer fails the first n requests with 503 and counts them all.
func flakyServer(t *testing.T, n int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &count
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int32
		retries   int
		reason    string // empty for success
		wantCalls int32
	}{
		{"no retries, fails", 1, 0, "status 503", 1},
		{"retry succeeds", 2, 2, "", 3},
		{"retries exhausted", 3, 2, "status 503 (3 attempts)", 3},
		{"first try succeeds", 0, 3, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, count := flakyServer(t, tt.failFirst)
			p, addr := newFromYAML(t, fmt.Sprintf("url: %s\nretries: %d\n", srv.URL, tt.retries))
			res := probe(t, p, addr)
			if res.OK != (tt.reason == "") || res.Reason != tt.reason {
				t.Errorf("got %+v, want reason %q", res, tt.reason)
			}
			if got := count.Load(); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestRetriesStopAtDeadline: a deadline shorter than the retry pause
// leaves no room for a second attempt.
func TestRetriesStopAtDeadline(t *testing.T) {
	srv, count := flakyServer(t, 1000)
	p, addr := newFromYAML(t, "url: "+srv.URL+"\nretries: 1000\n")
	ctx, cancel := context.WithTimeout(t.Context(), pulse.RetryBackoff/2)
	defer cancel()
	res := p.Probe(ctx, pulse.Target{Address: addr})
	if res.OK {
		t.Fatal("probe passed against a failing server")
	}
	if res.Reason != "status 503" && !strings.Contains(res.Reason, "timeout after") {
		t.Errorf("reason %q", res.Reason)
	}
	if got := count.Load(); got > 1 {
		t.Errorf("server saw %d requests, want at most 1", got)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // sleep until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	p, addr := newFromYAML(t, "url: "+srv.URL+"/slow\nretries: 2\n")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res := p.Probe(ctx, pulse.Target{Address: addr})
	prefix := "GET " + srv.URL + "/slow: timeout after "
	if res.OK || !strings.HasPrefix(res.Reason, prefix) {
		t.Errorf("got %+v, want reason starting %q", res, prefix)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String() + "/health?token=secret"
	ln.Close()

	p, _ := newFromYAML(t, "url: http://127.0.0.1/\n")
	res := probe(t, p, addr)
	want := "GET http://" + ln.Addr().String() + "/health: connection refused"
	if res.OK || res.Reason != want {
		t.Errorf("got %+v, want reason %q", res, want)
	}
}

func TestRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusFound))
	mux.HandleFunc("/new", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, extra string
		wantOK      bool
		reason      string
	}{
		{"followed by default", "", true, ""},
		{"followed", "follow_redirects: true", true, ""},
		{"not followed", "follow_redirects: false", false, "status 302"},
		{"302 accepted", "follow_redirects: false\nvalid_status_codes: [302]", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, addr := newFromYAML(t, "url: "+srv.URL+"/old\n"+tt.extra+"\n")
			res := probe(t, p, addr)
			if res.OK != tt.wantOK || res.Reason != tt.reason {
				t.Errorf("got %+v, want OK=%v reason %q", res, tt.wantOK, tt.reason)
			}
		})
	}
}

func TestProxy(t *testing.T) {
	seen := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.String() // a proxy receives the absolute URL
	}))
	t.Cleanup(proxy.Close)

	// Nothing listens on the discard port: only the proxy can answer.
	p, addr := newFromYAML(t, "url: http://127.0.0.1:9/via-proxy\nproxy_url: "+proxy.URL+"\n")
	if res := probe(t, p, addr); !res.OK {
		t.Fatalf("probe: %+v", res)
	}
	if got := <-seen; got != "http://127.0.0.1:9/via-proxy" {
		t.Errorf("proxy saw %q", got)
	}
}

// TestLargeBody: a body beyond the drain limit is not read to its end and
// does not fail the check.
func TestLargeBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 64<<10)
		for range (maxDrain / len(chunk)) * 4 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	p, addr := newFromYAML(t, "url: "+srv.URL+"\n")
	if res := probe(t, p, addr); !res.OK {
		t.Errorf("probe: %+v", res)
	}
}

// TestAddressAgreesWithNew: the loader's shortcut must accept, reject and
// extract exactly what New does for the url key.
func TestAddressAgreesWithNew(t *testing.T) {
	for _, text := range []string{
		"url: http://127.0.0.1:8080/health",
		"url: https://example.internal/x?y=1",
		"method: GET",
		"url: ftp://127.0.0.1/",
		"url: [not, a, string]",
		"url: ''",
		"url: http://",
	} {
		b := spectest.Block(t, text)
		_, wantAddr, newErr := Kind.New(b, kind.Deps{})
		gotAddr, addrErr := Kind.Address(b)
		if (newErr == nil) != (addrErr == nil) {
			t.Errorf("%q: New error %v, Address error %v", text, newErr, addrErr)
			continue
		}
		if newErr != nil && newErr.Error() != addrErr.Error() {
			t.Errorf("%q: New says %q, Address says %q", text, newErr, addrErr)
		}
		if newErr == nil && gotAddr != wantAddr {
			t.Errorf("%q: address %q, want %q", text, gotAddr, wantAddr)
		}
	}
}

// hangUp closes the connection without answering.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// answer sends code and closes the connection, so the next request dials
// afresh rather than being retried by the transport on a reused one.
func answer(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(code)
	}
}

// scriptedServer handles the i-th request with steps[i], and every request
// after the last step with the last step.
func scriptedServer(t *testing.T, steps ...http.HandlerFunc) *httptest.Server {
	t.Helper()
	var count atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(count.Add(1))-1, len(steps)-1)
		steps[i](w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // hang-ups are expected
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is a loopback URL that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/health"
}

// TestUnreachable: only a target that never answered is unreachable; one
// that answered wrongly is alive.
func TestUnreachable(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	silent := scriptedServer(t, func(w http.ResponseWriter, r *http.Request) {
		select { // no headers until the client gives up
		case <-r.Context().Done():
		case <-stall:
		}
	})
	garbage := scriptedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_, _ = io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n")
			_ = conn.Close()
		}
	})
	shortBody := scriptedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
			_ = conn.Close()
		}
	})
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)
	redirect := httptest.NewServer(http.RedirectHandler(closedURL(t), http.StatusFound))
	t.Cleanup(redirect.Close)
	toSilent := httptest.NewServer(http.RedirectHandler(silent.URL, http.StatusFound))
	t.Cleanup(toSilent.Close)

	tests := []struct {
		name, url, extra string
		timeout          time.Duration
		want             bool
		reason           string // a prefix of the expected reason
	}{
		{"connection refused", closedURL(t), "", 10 * time.Second, true, "GET http://127.0.0.1:"},
		{"name does not resolve", "http://cpra-agent-test.-invalid/", "", 2 * time.Second, true, "GET http://cpra-agent-test.-invalid/: "},
		{"hang-up before a response", scriptedServer(t, hangUp).URL, "", 10 * time.Second, true, "GET http://"},
		{"no response before the deadline", silent.URL, "", 200 * time.Millisecond, true, "GET " + silent.URL + ": timeout after 200ms"},
		{"TLS handshake fails", untrusted.URL, "", 10 * time.Second, true, "GET " + untrusted.URL + ": "},
		{"status 500", statusServer(t, 500).URL, "", 10 * time.Second, false, "status 500"},
		{"status 404", statusServer(t, 404).URL, "", 10 * time.Second, false, "status 404"},
		{"not HTTP", garbage.URL, "", 10 * time.Second, false, "GET " + garbage.URL + ": "},
		{"body cut short", shortBody.URL, "", 10 * time.Second, false, "GET " + shortBody.URL + ": reading body: "},
		{"redirect to a closed port", redirect.URL, "", 10 * time.Second, false, "GET " + redirect.URL + ": "},
		{"redirect to a silent target", toSilent.URL, "", 200 * time.Millisecond, false, "GET " + toSilent.URL + ": timeout after 200ms"},
		{"last attempt answers", scriptedServer(t, hangUp, hangUp, answer(503)).URL, "retries: 2", 10 * time.Second, false, "status 503 (3 attempts)"},
		{"last attempt hangs up", scriptedServer(t, answer(503), answer(503), hangUp).URL, "retries: 2", 10 * time.Second, true, "GET http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newFromYAML(t, "url: http://127.0.0.1/\n"+tt.extra+"\n")
			// As the agent runs it: the fast path keeps the deadline itself.
			res, _, _ := pulse.Run(t.Context(), p, pulse.Target{Address: tt.url}, tt.timeout)
			if res.OK || res.Unreachable != tt.want || !strings.HasPrefix(res.Reason, tt.reason) {
				t.Errorf("got %+v, want Unreachable=%v and a reason starting %q", res, tt.want, tt.reason)
			}
		})
	}
}

// A canceled check (the agent stopping) says nothing about the target.
func TestCanceledIsNotUnreachable(t *testing.T) {
	p, _ := newFromYAML(t, "url: http://127.0.0.1/\n")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, _, _ := pulse.Run(ctx, p, pulse.Target{Address: closedURL(t)}, 10*time.Second)
	if res.OK || res.Unreachable || !strings.HasSuffix(res.Reason, ": canceled") {
		t.Errorf("got %+v, want a canceled failure that is not unreachable", res)
	}
}

func TestSuccessIsNotUnreachable(t *testing.T) {
	p, addr := newFromYAML(t, "url: "+statusServer(t, 200).URL+"\n")
	if res := probe(t, p, addr); !res.OK || res.Unreachable {
		t.Errorf("got %+v, want success", res)
	}
}
