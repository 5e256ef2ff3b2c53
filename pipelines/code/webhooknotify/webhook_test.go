package webhooknotify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

func newNotifier(t *testing.T, text string) *Notifier {
	t.Helper()
	n, err := Kind.New(spectest.Block(t, text), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n.(*Notifier)
}

// request is what the test server saw.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder is a webhook receiver answering with status and reply.
type recorder struct {
	mu       sync.Mutex
	requests []request
}

func (r *recorder) server(t *testing.T, status int, reply string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, request{req.Method, req.URL.Path, req.Header.Clone(), body})
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *recorder) all() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty block", "", "line 1: url: required"},
		{"missing url", "timeout: 1s\n", "line 1: url: required"},
		{"unknown key", "url: http://127.0.0.1/\nmethod: PUT\n", "line 2: method: unknown field (known: authorization, basic_auth, headers, oauth2, timeout, tls_config, url)"},
		{"bad scheme", "url: ftp://127.0.0.1/x\n", `line 1: url: scheme must be http or https, got "ftp"`},
		{"relative url", "url: /hook\n", `line 1: url: scheme must be http or https, got ""`},
		{"no host", "url: http:///hook\n", "line 1: url: missing host"},
		{"unparsable url", "url: \"http://[::1\"\n", `line 1: url: missing ']' in host`},
		{"zero timeout", "url: http://127.0.0.1/\ntimeout: 0s\n", "line 2: timeout: must be greater than zero"},
		{"bad timeout", "url: http://127.0.0.1/\ntimeout: soon\n",
			`line 2: timeout: invalid duration "soon" (use a number and a unit: ms, s, m, h, d)`},
		{"headers not a map", "url: http://127.0.0.1/\nheaders: [a]\n", "line 2: headers: expected a mapping"},
		{"bad header name", "url: http://127.0.0.1/\nheaders:\n  X-Ok: a\n  \"Bad Name\": b\n",
			"line 4: headers.Bad Name: invalid header name"},
		{"reserved header", "url: http://127.0.0.1/\nheaders:\n  content-type: text/plain\n",
			"line 3: headers.content-type: set by the notifier, cannot be configured"},
		{"header value with newline", "url: http://127.0.0.1/\nheaders: {X-A: \"a\\nb\"}\n",
			"line 2: headers.X-A: value must not contain line breaks or NUL"},
		{"duplicate header", "url: http://127.0.0.1/\nheaders:\n  X-A: a\n  x-a: b\n",
			"line 4: headers.x-a: duplicate header (names are case-insensitive)"},
		{"every problem", "url: ftp://h/\ntimeout: 0s\n",
			"line 1: url: scheme must be http or https, got \"ftp\"\nline 2: timeout: must be greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{})
			if err == nil {
				t.Fatalf("New succeeded, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	n := newNotifier(t, "url: http://127.0.0.1:1/hook\n")
	if n.timeout != 10*time.Second {
		t.Errorf("timeout %v, want 10s", n.timeout)
	}
	n = newNotifier(t, "url: http://127.0.0.1:1/hook\ntimeout: null\n")
	if n.timeout != 10*time.Second {
		t.Errorf("timeout: null gave %v, want the default", n.timeout)
	}
}

func TestDestination(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://127.0.0.1:8080/hook", "webhook:http://127.0.0.1:8080/hook"},
		{"https://user:pw@hooks.example/a/b?token=s3cret#frag", "webhook:https://hooks.example/a/b"},
		{"http://127.0.0.1/?", "webhook:http://127.0.0.1/"},
		{"https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/abcdefghijklmnopqrstuvwx", "webhook:https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/…#"},
	}
	for _, tt := range tests {
		n := newNotifier(t, "url: \""+tt.url+"\"\n")
		if got := n.Destination(); got != tt.want && !(strings.HasSuffix(tt.want, "#") && strings.HasPrefix(got, tt.want)) {
			t.Errorf("Destination(%s) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestPayload(t *testing.T) {
	at := time.Date(2025, 1, 2, 4, 4, 5, 123000000, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		n    domain.Notification
		want string
	}{
		{
			name: "red",
			n: domain.Notification{Time: at, Monitor: "api", Code: domain.Red, State: "down",
				Message: "status 503", Groups: []string{"web"}, Labels: map[string]string{"shard": "1"}},
			want: `{"version":"1","time":"2025-01-02T03:04:05.123Z","monitor":"api","code":"red","severity":"critical","state":"down","message":"status 503","groups":["web"],"labels":{"shard":"1"}}`,
		},
		{
			name: "green has empty severity, groups and labels",
			n:    domain.Notification{Time: at, Monitor: "api", Code: domain.Green, State: "healthy", Message: "recovered"},
			want: `{"version":"1","time":"2025-01-02T03:04:05.123Z","monitor":"api","code":"green","severity":"","state":"healthy","message":"recovered","groups":[],"labels":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			srv := rec.server(t, http.StatusNoContent, "")
			n := newNotifier(t, "url: "+srv.URL+"/hook\nheaders:\n  Authorization: Bearer s3cret\n  user-agent: custom\n")
			if err := n.Notify(context.Background(), tt.n); err != nil {
				t.Fatal(err)
			}
			reqs := rec.all()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/hook" {
				t.Errorf("%s %s, want POST /hook", r.method, r.path)
			}
			for k, want := range map[string]string{
				"Content-Type":  "application/json",
				"User-Agent":    "custom",
				"Authorization": "Bearer s3cret",
			} {
				if got := r.header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if string(r.body) != tt.want {
				t.Errorf("body:\n got %s\nwant %s", r.body, tt.want)
			}
		})
	}
}

func TestDefaultUserAgent(t *testing.T) {
	var rec recorder
	srv := rec.server(t, http.StatusOK, "ok")
	n := newNotifier(t, "url: "+srv.URL)
	if err := n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Yellow}); err != nil {
		t.Fatal(err)
	}
	if ua := rec.all()[0].header.Get("User-Agent"); ua != "cpra-agent" {
		t.Errorf("User-Agent %q, want cpra-agent", ua)
	}
	var p struct{ Time time.Time }
	if err := json.Unmarshal(rec.all()[0].body, &p); err != nil || p.Time.IsZero() {
		t.Errorf("zero notification time not replaced: %v %v", p.Time, err)
	}
}

func TestRetrySendsSameBody(t *testing.T) {
	var rec recorder
	srv := rec.server(t, http.StatusServiceUnavailable, "busy")
	n := newNotifier(t, "url: "+srv.URL)
	note := domain.Notification{Time: time.Now(), Monitor: "m", Code: domain.Red, State: "down"}
	for range 2 {
		if err := n.Notify(context.Background(), note); err == nil {
			t.Fatal("Notify succeeded against a 503")
		}
	}
	reqs := rec.all()
	if len(reqs) != 2 || string(reqs[0].body) != string(reqs[1].body) {
		t.Errorf("retries sent different bodies: %q", reqs)
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("e", 300)
	tests := []struct {
		name   string
		status int
		reply  string
		want   string
	}{
		{"500 quotes the body", 500, "  boom\n", `status 500 Internal Server Error: "boom"`},
		{"body cut at 200 bytes", 400, long, `status 400 Bad Request: "` + long[:200] + `"`},
		{"redirect is not followed", http.StatusFound, "", `status 302 Found: ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			srv := rec.server(t, tt.status, tt.reply)
			n := newNotifier(t, "url: "+srv.URL+"/hook?token=s3cret")
			err := n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Red})
			want := "webhook:" + srv.URL + "/hook: " + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
}

func TestConnectionErrorHidesQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	n := newNotifier(t, "url: "+addr+"/hook?token=s3cret")
	err := n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Red})
	if err == nil {
		t.Fatal("Notify succeeded without a server")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "webhook:"+addr+"/hook: ") {
		t.Errorf("error %q should name the destination without its query", err)
	}
}

func TestContextDeadlineWins(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	n := newNotifier(t, "url: "+srv.URL+"\ntimeout: 1h\n")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := n.Notify(ctx, domain.Notification{Monitor: "m", Code: domain.Red})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
}

func TestTimeoutApplies(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	n := newNotifier(t, "url: "+srv.URL+"\ntimeout: 50ms\n")
	err := n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Red})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
}
