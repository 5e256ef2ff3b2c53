package webhookremedy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

func newFromYAML(t *testing.T, text string) intervention.Remedy {
	t.Helper()
	r, err := Kind.New(spectest.Block(t, text), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// apply runs one attempt with a generous deadline.
func apply(t *testing.T, r intervention.Remedy, req intervention.Request) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return r.Apply(ctx, req)
}

var request = intervention.Request{
	Monitor: "web api", State: "down", Reason: `status 503 "unavailable"`,
	Groups: []string{"web", "eu"}, Attempt: 2,
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"missing url", "method: POST\n", "line 1: url: required"},
		{"empty block", "", "line 1: url: required"},
		{"bad scheme", "url: ftp://127.0.0.1/x\n", `line 1: url: scheme must be http or https, got "ftp"`},
		{"no host", "url: http:///hook\n", "line 1: url: missing host"},
		{"url syntax", "url: 'http://127.0.0.1/{{.Monitor'\n", "line 1: url: template: url:1: unclosed action"},
		{"bad method", "url: http://127.0.0.1/\nmethod: 'P OST'\n", `line 2: method: invalid HTTP method "P OST"`},
		{"unknown field in body", "url: http://127.0.0.1/\nbody: '{{.Monitr}}'\n",
			`line 2: body: template: body:1:2: executing "body" at <.Monitr>: can't evaluate field Monitr in type intervention.Request`},
		{"unknown function", "url: http://127.0.0.1/\nbody: '{{nope .Monitor}}'\n",
			`line 2: body: template: body:1: function "nope" not defined`},
		{"error on the body's line 4", "url: http://127.0.0.1/\nbody: |\n  {\n    \"m\": {{json .Monitor}},\n    \"s\": {{.State\n  }\n",
			`line 2: body: template: body:4: unexpected "}" in operand`},
		{"header template", "url: http://127.0.0.1/\nheaders:\n  X-Ok: ok\n  X-Bad: '{{.Nope}}'\n",
			`line 4: headers.X-Bad: template: headers.X-Bad:1:2: executing "headers.X-Bad" at <.Nope>: can't evaluate field Nope in type intervention.Request`},
		{"bad header name", "url: http://127.0.0.1/\nheaders:\n  'a b': x\n", "line 3: headers.a b: invalid header name"},
		{"negative retries", "url: http://127.0.0.1/\nretries: -1\n", "line 2: retries: must be 0 or more, got -1"},
		{"bad timeout", "url: http://127.0.0.1/\ntimeout: soon\n",
			`line 2: timeout: invalid duration "soon" (use a number and a unit: ms, s, m, h, d)`},
		{"unknown key", "url: http://127.0.0.1/\ncontainer: x\n",
			"line 2: container: unknown field (known: authorization, backoff, basic_auth, body, headers, method, oauth2, retries, timeout, tls_config, url)"},
		{"every problem", "url: gopher://127.0.0.1/\nretries: -1\nbody: '{{'\n",
			"line 2: retries: must be 0 or more, got -1\n" +
				"line 1: url: scheme must be http or https, got \"gopher\"\n" +
				"line 3: body: template: body:1: unclosed action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{})
			if err == nil {
				t.Fatalf("New succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		yaml string
		want intervention.Policy
	}{
		{"url: http://127.0.0.1/\n", intervention.Policy{
			Timeout: spec.Duration(intervention.DefaultTimeout), Backoff: spec.Duration(intervention.DefaultBackoff)}},
		{"url: http://127.0.0.1/\ntimeout: 5s\nretries: 3\nbackoff: 2s\n", intervention.Policy{
			Timeout: spec.Duration(5 * time.Second), Retries: 3, Backoff: spec.Duration(2 * time.Second)}},
	}
	for _, tt := range tests {
		if got := newFromYAML(t, tt.yaml).Policy(); got != tt.want {
			t.Errorf("%q: Policy() = %+v, want %+v", tt.yaml, got, tt.want)
		}
	}
}

// seen is one request as the server received it.
type seen struct {
	method, path string
	query        map[string][]string
	header       http.Header
	body         string
}

// hookServer records requests and answers with code and reply.
func hookServer(t *testing.T, code int, reply string) (*httptest.Server, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), string(body)}
		w.WriteHeader(code)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestDefaultRequest(t *testing.T) {
	srv, ch := hookServer(t, http.StatusNoContent, "")
	r := newFromYAML(t, "url: "+srv.URL+"/hook\n")
	if err := apply(t, r, request); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	if got.method != "POST" || got.path != "/hook" {
		t.Errorf("server saw %s %s", got.method, got.path)
	}
	if ct, ua := got.header.Get("Content-Type"), got.header.Get("User-Agent"); ct != "application/json" || ua != "cpra-agent" {
		t.Errorf("Content-Type %q, User-Agent %q", ct, ua)
	}
	want := `{"monitor":"web api","state":"down","reason":"status 503 \"unavailable\"","groups":["web","eu"],"attempt":2}`
	if got.body != want {
		t.Errorf("body:\n got %s\nwant %s", got.body, want)
	}
}

func TestDefaultBodyWithoutGroups(t *testing.T) {
	srv, ch := hookServer(t, http.StatusOK, "")
	r := newFromYAML(t, "url: "+srv.URL+"\n")
	if err := apply(t, r, intervention.Request{Monitor: "m", State: "down", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	want := `{"monitor":"m","state":"down","reason":"","groups":[],"attempt":1}`
	if got := (<-ch).body; got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

func TestTemplates(t *testing.T) {
	srv, ch := hookServer(t, http.StatusAccepted, "")
	r := newFromYAML(t, `
url: '`+srv.URL+`/hooks/restart?monitor={{urlquery .Monitor}}&groups={{.Groups | join "," | urlquery}}'
method: PUT
headers:
  Authorization: 'Bearer token-{{.Attempt}}'
  content-type: text/plain
body: |
  {"text": {{printf "%s is %s: %s" .Monitor .State .Reason | json}}, "groups": {{json .Groups}}}
`)
	if err := apply(t, r, request); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	if got.method != "PUT" || got.path != "/hooks/restart" {
		t.Errorf("server saw %s %s", got.method, got.path)
	}
	if m, g := got.query["monitor"], got.query["groups"]; len(m) != 1 || m[0] != "web api" || len(g) != 1 || g[0] != "web,eu" {
		t.Errorf("query %v", got.query)
	}
	if a, ct := got.header.Get("Authorization"), got.header.Get("Content-Type"); a != "Bearer token-2" || ct != "text/plain" {
		t.Errorf("Authorization %q, Content-Type %q", a, ct)
	}
	var body struct {
		Text   string   `json:"text"`
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", got.body, err)
	}
	if want := `web api is down: status 503 "unavailable"`; body.Text != want || strings.Join(body.Groups, ",") != "web,eu" {
		t.Errorf("body decoded to %+v", body)
	}
}

func TestStatus(t *testing.T) {
	long := strings.Repeat("e", 300)
	tests := []struct {
		name  string
		code  int
		reply string
		want  string // empty for success
	}{
		{"200", 200, "ok", ""},
		{"204", 204, "", ""},
		{"500 with body", 500, "internal error\n", "webhook returned status 500: internal error"},
		{"500 long body", 500, long, "webhook returned status 500: " + long[:200]},
		{"404 empty body", 404, "", "webhook returned status 404"},
		{"redirect not followed", 302, "", "webhook returned status 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := hookServer(t, tt.code, tt.reply)
			err := apply(t, newFromYAML(t, "url: "+srv.URL+"\n"), request)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
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

	r := newFromYAML(t, "url: "+srv.URL+"/slow?token=secret\n")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := r.Apply(ctx, request)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline error", err)
	}
	if want := "webhook POST " + srv.URL + ": "; !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q, want prefix %q and no path or query", err, want)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	err = apply(t, newFromYAML(t, "url: http://"+addr+"/hook/secret-token\n"), request)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %v, want connection refused without the path", err)
	}
}

func TestDestination(t *testing.T) {
	tests := []struct {
		name, url string
		req       intervention.Request
		want      string
	}{
		{"no credentials, query or fragment", "https://user:pw@Ops.example.com:8443/hooks/{{.Monitor}}?token=s3cr3t#x", request,
			"webhook:https://Ops.example.com:8443/hooks/web%20api"},
		{"no port", "http://127.0.0.1/", request, "webhook:http://127.0.0.1/"},
		{"IPv6", "http://[::1]:9000/x", request, "webhook:http://[::1]:9000/x"},
		{"host from the request", "http://{{.Monitor}}.ops.internal/restart", intervention.Request{Monitor: "api"},
			"webhook:http://api.ops.internal/restart"},
		{"render error falls back to the url as written", "http://ops.example.com/{{index .Groups 0}}", intervention.Request{},
			"webhook:http://ops.example.com/%7B%7Bindex%20.Groups%200%7D%7D"},
		{"templated host that renders invalid", "http://{{.Monitor}}.ops.internal/", intervention.Request{Monitor: "web api"},
			"webhook:invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFromYAML(t, "url: '"+tt.url+"'\n")
			if got := r.Destination(tt.req); got != tt.want {
				t.Errorf("Destination = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDestinationIgnoresTheQuery: attempts of one remedy share a
// destination; different repair endpoints do not.
func TestDestinationIgnoresTheQuery(t *testing.T) {
	r := newFromYAML(t, "url: 'https://ops.example.com/restart/{{.Monitor}}?attempt={{.Attempt}}'\n")
	a1 := r.Destination(intervention.Request{Monitor: "a", Attempt: 1})
	a3 := r.Destination(intervention.Request{Monitor: "a", Attempt: 3})
	b := r.Destination(intervention.Request{Monitor: "b", Attempt: 1})
	if a1 != a3 || a1 != "webhook:https://ops.example.com/restart/a" || b != "webhook:https://ops.example.com/restart/b" {
		t.Errorf("destinations %q, %q and %q", a1, a3, b)
	}
}
