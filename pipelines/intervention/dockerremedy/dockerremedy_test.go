package dockerremedy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// call is one request the fake engine received.
type call struct {
	method, path, query string // path as sent, still escaped
}

// engine is a fake Docker Engine serving POST /containers/{id}/{action}
// (optionally under /v1.NN) on a unix socket. What it answers depends on
// the container:
//
//	missing  404 {"message":"No such container: missing"}
//	broken   500 {"message":"boom"}
//	html     502 with a non-JSON body
//	slow     nothing until the client gives up
//	running  304 (Docker sends it for start and stop)
//	anything else 204
type engine struct {
	socket string
	mu     sync.Mutex
	calls  []call
}

func startEngine(t *testing.T) *engine {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 90 { // unix socket paths are limited to about 108 bytes
		var err error
		if dir, err = os.MkdirTemp("", "dk"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	e := &engine{socket: filepath.Join(dir, "docker.sock")}
	ln, err := net.Listen("unix", e.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(e.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return e
}

func (e *engine) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	e.mu.Lock()
	e.calls = append(e.calls, call{r.Method, p, r.URL.RawQuery})
	e.mu.Unlock()

	if strings.HasPrefix(p, "/v1.") {
		p = p[strings.Index(p[1:], "/")+1:]
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 3 || parts[0] != "containers" {
		http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
		return
	}
	id, _ := url.PathUnescape(parts[1])
	w.Header().Set("Content-Type", "application/json")
	switch {
	case id == "missing":
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"No such container: %s"}`, id)
	case id == "broken":
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"message":"boom"}`)
	case id == "html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<h1>Bad gateway</h1>\n")
	case id == "slow":
		<-r.Context().Done()
	case id == "running":
		w.WriteHeader(http.StatusNotModified)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *engine) lastCall(t *testing.T) call {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) == 0 {
		t.Fatal("the engine saw no request")
	}
	return e.calls[len(e.calls)-1]
}

// apply runs one attempt with a generous deadline.
func apply(t *testing.T, r intervention.Remedy, monitor string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return r.Apply(ctx, intervention.Request{Monitor: monitor, State: "down", Attempt: 1})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"missing container", "action: restart\n", "line 1: container: required"},
		{"empty block", "", "line 1: container: required"},
		{"template syntax", "container: '{{.Monitor'\n", "line 1: container: template: container:1: unclosed action"},
		{"template field", "container: '{{.Name}}'\n",
			`line 1: container: template: container:1:2: executing "container" at <.Name>: can't evaluate field Name in type intervention.Request`},
		{"bad action", "container: web\naction: reboot\n", `line 2: action: must be one of restart, start, stop, kill; got "reboot"`},
		{"tcp host", "container: web\nhost: tcp://127.0.0.1:2375\n", `line 2: host: only unix:// hosts are supported, got "tcp://127.0.0.1:2375"`},
		{"relative host", "container: web\nhost: unix://docker.sock\n", `line 2: host: want unix:///absolute/path, got "unix://docker.sock"`},
		{"socket and host", "container: web\nsocket: /a.sock\nhost: unix:///b.sock\n", "line 3: host: set socket or host, not both"},
		{"relative socket", "container: web\nsocket: docker.sock\n", `line 2: socket: must be an absolute path, got "docker.sock"`},
		{"stop_timeout with kill", "container: web\naction: kill\nstop_timeout: 5s\n",
			"line 3: stop_timeout: only applies to the restart and stop actions"},
		{"fractional stop_timeout", "container: web\nstop_timeout: 1500ms\n", "line 2: stop_timeout: must be a whole number of seconds, got 1.5s"},
		{"stop_timeout too long", "container: web\nstop_timeout: 30s\n", "line 2: stop_timeout: must be shorter than timeout (30s), got 30s"},
		{"stop_timeout vs timeout", "container: web\ntimeout: 5s\nstop_timeout: 10s\n", "line 3: stop_timeout: must be shorter than timeout (5s), got 10s"},
		{"bad api_version", "container: web\napi_version: v1.41\n", `line 2: api_version: must look like 1.41, got "v1.41"`},
		{"negative retries", "container: web\nretries: -1\n", "line 2: retries: must be 0 or more, got -1"},
		{"unknown key", "container: web\nsignal: HUP\n",
			"line 2: signal: unknown field (known: action, api_version, backoff, container, host, retries, socket, stop_timeout, timeout)"},
		{"bad duration", "container: web\nstop_timeout: soon\n",
			`line 2: stop_timeout: invalid duration "soon" (use a number and a unit: ms, s, m, h, d)`},
		{"every problem", "action: bounce\nsocket: rel\n",
			"line 1: container: required\n" +
				"line 1: action: must be one of restart, start, stop, kill; got \"bounce\"\n" +
				"line 2: socket: must be an absolute path, got \"rel\""},
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

func TestDefaults(t *testing.T) {
	r := newFromYAML(t, "container: web\n").(*remedy)
	if r.action != "restart" || r.query != "" || r.endpoint != "http://api.moby.localhost" {
		t.Errorf("action %q, query %q, endpoint %q", r.action, r.query, r.endpoint)
	}
	want := intervention.Policy{Timeout: spec.Duration(intervention.DefaultTimeout), Backoff: spec.Duration(intervention.DefaultBackoff)}
	if got := r.Policy(); got != want {
		t.Errorf("Policy() = %+v, want %+v", got, want)
	}
}

func TestRequests(t *testing.T) {
	e := startEngine(t)
	tests := []struct {
		name, config, monitor string
		want                  call
	}{
		{"restart", "container: web", "m",
			call{"POST", "/containers/web/restart", ""}},
		{"template", "container: '{{.Monitor}}'", "api",
			call{"POST", "/containers/api/restart", ""}},
		{"escaped", "container: '{{.Monitor}}'", "my app/1",
			call{"POST", "/containers/my%20app%2F1/restart", ""}},
		{"leading slash", "container: /web", "m",
			call{"POST", "/containers/web/restart", ""}},
		{"stop_timeout", "container: web\nstop_timeout: 10s", "m",
			call{"POST", "/containers/web/restart", "t=10"}},
		{"zero stop_timeout", "container: web\nstop_timeout: 0s", "m",
			call{"POST", "/containers/web/restart", "t=0"}},
		{"stop", "container: web\naction: stop\nstop_timeout: 1m\ntimeout: 2m", "m",
			call{"POST", "/containers/web/stop", "t=60"}},
		{"start", "container: web\naction: start", "m",
			call{"POST", "/containers/web/start", ""}},
		{"kill", "container: web\naction: kill", "m",
			call{"POST", "/containers/web/kill", ""}},
		{"api_version", "container: web\napi_version: '1.41'", "m",
			call{"POST", "/v1.41/containers/web/restart", ""}},
		{"api_version as a number", "container: web\napi_version: 1.40", "m",
			call{"POST", "/v1.40/containers/web/restart", ""}},
		{"host form", "container: web\nhost: unix://" + e.socket, "m",
			call{"POST", "/containers/web/restart", ""}},
		{"already running", "container: running\naction: start", "m",
			call{"POST", "/containers/running/start", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := tt.config
			if !strings.Contains(config, "host:") {
				config += "\nsocket: " + e.socket
			}
			if err := apply(t, newFromYAML(t, config), tt.monitor); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := e.lastCall(t); got != tt.want {
				t.Errorf("engine saw %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	e := startEngine(t)
	tests := []struct {
		container, action, want string
	}{
		{"missing", "restart", "docker restart: no such container missing"},
		{"broken", "restart", "docker restart broken: status 500: boom"},
		{"html", "stop", "docker stop html: status 502: <h1>Bad gateway</h1>"},
		{"running", "start", ""},
		{"running", "stop", ""},
		{"running", "restart", "docker restart running: status 304"}, // success only for start and stop
		{"{{.Reason}}", "restart", "docker restart: the container template gave an empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.container+" "+tt.action, func(t *testing.T) {
			r := newFromYAML(t, fmt.Sprintf("container: '%s'\naction: %s\nsocket: %s\n", tt.container, tt.action, e.socket))
			err := apply(t, r, "m")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock")
	err := apply(t, newFromYAML(t, "container: web\nsocket: "+socket+"\n"), "m")
	want := "docker restart web: dial unix " + socket + ": connect: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestTimeout(t *testing.T) {
	e := startEngine(t)
	r := newFromYAML(t, "container: slow\nsocket: "+e.socket+"\n")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := r.Apply(ctx, intervention.Request{Monitor: "m"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "docker restart slow: ") {
		t.Errorf("error %v, want a deadline error", err)
	}
}

// TestConcurrent shares one Remedy between monitors, as the pipeline does.
func TestConcurrent(t *testing.T) {
	e := startEngine(t)
	r := newFromYAML(t, "container: '{{.Monitor}}'\nsocket: "+e.socket+"\n")
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := apply(t, r, fmt.Sprintf("c%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) != 10 {
		t.Errorf("engine saw %d calls, want 10", len(e.calls))
	}
}

func TestDestination(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"default socket", "container: web", "docker:/var/run/docker.sock"},
		{"socket", "container: web\nsocket: /run/docker.sock", "docker:/run/docker.sock"},
		{"unix host", "container: web\nhost: unix:///run/user/1000/docker.sock", "docker:/run/user/1000/docker.sock"},
		{"same daemon, written differently", "container: web\nsocket: /run//docker.sock", "docker:/run/docker.sock"},
		{"not the container", "container: '{{.Monitor}}'\naction: stop", "docker:/var/run/docker.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFromYAML(t, tt.config)
			for _, monitor := range []string{"api", "db"} {
				if got := r.Destination(intervention.Request{Monitor: monitor}); got != tt.want {
					t.Errorf("Destination for %s = %q, want %q", monitor, got, tt.want)
				}
			}
		})
	}
}
