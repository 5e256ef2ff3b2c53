package httpcheck

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/internal/testpki"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// serve answers every request with status 200, the given headers and body,
// after delay.
func serve(t *testing.T, body string, header map[string]string, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay) // the slow server under test, not the test waiting
		for k, v := range header {
			w.Header().Set(k, v)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAssertions: a 200 whose body, headers or timing say the service is
// not well fails, and the failure says which assertion and shows a short
// excerpt.
func TestAssertions(t *testing.T) {
	health := `{"status":"DOWN","checks":[{"name":"db","ok":false},{"name":"cache","ok":true}],"version":"1.2.3"}`
	tests := []struct {
		name, yaml, body string
		header           map[string]string
		delay            time.Duration
		fails            string // substring of the reason; "" means OK
	}{
		{"json status mismatch", `fail_if_body_json_not_matches: ['$.status == "UP"']`, health, nil, 0,
			`$.status == "UP": got "DOWN" (fail_if_body_json_not_matches)`},
		{"json every check ok", `fail_if_body_json_not_matches: ['$.checks[*].ok == true']`, health, nil, 0,
			`$.checks[*].ok == true: got false`},
		{"json not equal passes", `fail_if_body_json_not_matches: ['$.version != "1.0.0"']`, health, nil, 0, ""},
		{"json path selects nothing", `fail_if_body_json_not_matches: ['$.uptime == 1']`, health, nil, 0, "the path selects nothing"},
		{"json not JSON", `fail_if_body_json_not_matches: ['$.status == "UP"']`, "<html>oops</html>", nil, 0, `body is not JSON`},
		{"json passes", `fail_if_body_json_not_matches: ['$.status == "UP"', '$.n == 3']`, `{"status":"UP","n":3}`, nil, 0, ""},
		{"body matches", `fail_if_body_matches_regexp: ["(?i)error|down"]`, health, nil, 0,
			`body matches "(?i)error|down" (fail_if_body_matches_regexp): "DOWN"`},
		{"body does not match", `fail_if_body_not_matches_regexp: ['"status":"UP"']`, health, nil, 0,
			`body does not match "\"status\":\"UP\"" (fail_if_body_not_matches_regexp): "{\"status\":\"DOWN\",`},
		{"body matches nothing bad", `fail_if_body_matches_regexp: ["panic"]`, health, nil, 0, ""},
		{"header matches", `fail_if_header_matches: [{header: x-status, regexp: "degraded"}]`, "ok", map[string]string{"X-Status": "degraded"}, 0,
			`header X-Status matches "degraded" (fail_if_header_matches): "degraded"`},
		{"header missing", `fail_if_header_not_matches: [{header: Strict-Transport-Security, regexp: "max-age"}]`, "ok", nil, 0,
			"header Strict-Transport-Security missing"},
		{"header missing allowed", `fail_if_header_not_matches: [{header: X-Version, regexp: "^2", allow_missing: true}]`, "ok", nil, 0, ""},
		{"header does not match", `fail_if_header_not_matches: [{header: Content-Type, regexp: "json"}]`, "ok", map[string]string{"Content-Type": "text/html"}, 0,
			`header Content-Type does not match "json"`},
		{"slow", `max_response_time: 50ms`, "ok", nil, 300 * time.Millisecond, "more than max_response_time 50ms"},
		{"fast enough", `max_response_time: 5s`, "ok", nil, 0, ""},
		{"body too large", `body_size_limit: 10`, strings.Repeat("x", 100), nil, 0, "body larger than 10 bytes (body_size_limit)"},
		{"body within the limit", `body_size_limit: 1KiB`, strings.Repeat("x", 100), nil, 0, ""},
		{"long excerpt cut", `fail_if_body_not_matches_regexp: ["^ok$"]`, strings.Repeat("y", 500), nil, 0, `"` + strings.Repeat("y", 64) + `"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, tt.body, tt.header, tt.delay)
			p, _ := newFromYAML(t, "url: "+url+"\n"+tt.yaml+"\n")
			r := probe(t, p, url)
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			case tt.fails != "" && (r.Unreachable || r.HostDown):
				t.Errorf("an assertion failure counted against the host: %+v", r)
			}
		})
	}
}

func TestAssertionConfigErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"fail_if_body_matches_regexp: ['(']", "line 2: fail_if_body_matches_regexp[0]: invalid regexp"},
		{"fail_if_header_matches: [{regexp: x}]", "line 2: fail_if_header_matches[0].header: required"},
		{"fail_if_body_json_not_matches: ['$.status = UP']", "line 2: fail_if_body_json_not_matches[0]: want <JSONPath> == <JSON value>"},
		{"fail_if_body_json_not_matches: ['$.status == UP']", "the value after == is not JSON (quote strings)"},
		{"fail_if_body_json_not_matches: ['$[ == 1']", "invalid JSONPath"},
		{"body_size_limit: 10 parsecs", "line 2: body_size_limit: want a positive size in bytes"},
		{"max_response_time: 0s", "line 2: max_response_time: must be greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, "url: http://127.0.0.1:1/\n"+tt.yaml+"\n"), kind.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestCertificateExpiry: an https check fails when the certificate expires
// within tls_expiry_warning (14 days by default), naming it and the date,
// and reports the earliest expiry either way.
func TestCertificateExpiry(t *testing.T) {
	soon, later := time.Now().Add(3*24*time.Hour).Truncate(time.Second), time.Now().Add(60*24*time.Hour).Truncate(time.Second)
	tests := []struct {
		name     string
		notAfter time.Time
		yaml     string
		fails    string
	}{
		{"expires in 3 days", soon, "", `certificate "api.internal" expires ` + soon.UTC().Format(time.RFC3339)},
		{"expires in 60 days", later, "", ""},
		{"60 days within a 90-day warning", later, "tls_expiry_warning: 90d\n", "tls_expiry_warning 2160h0m0s"},
		{"3 days with the warning off", soon, "tls_expiry_warning: 0s\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{testpki.SelfSigned(t, "api.internal", tt.notAfter)}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			p, _ := newFromYAML(t, "url: "+srv.URL+"\ntls_config: {insecure_skip_verify: true}\n"+tt.yaml)
			r := probe(t, p, srv.URL)
			if r.CertExpiry != tt.notAfter.Unix() {
				t.Errorf("CertExpiry %v, want %v", time.Unix(r.CertExpiry, 0), tt.notAfter)
			}
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			}
		})
	}
}
