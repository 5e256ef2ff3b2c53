package dockerremedy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
)

// Kind registers the "docker" intervention.
var Kind = intervention.Kind{Name: "docker", Parse: parseRemedy}

const (
	defaultSocket = "/var/run/docker.sock"
	// apiHost is the placeholder host of requests sent over the socket; it
	// is what the docker CLI uses.
	apiHost = "api.moby.localhost"
	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
)

type config struct {
	Container           string         `yaml:"container"`
	Socket              string         `yaml:"socket"`
	Host                string         `yaml:"host"`
	Action              string         `yaml:"action"`
	StopTimeout         *spec.Duration `yaml:"stop_timeout"`
	APIVersion          string         `yaml:"api_version"`
	intervention.Policy `yaml:",inline"`
}

type remedy struct {
	container *template.Template
	action    string
	endpoint  string // scheme, host and version prefix, e.g. http://api.moby.localhost/v1.41
	dest      string // "docker:" and the socket path
	query     string // "t=10" or empty
	policy    intervention.Policy
	client    *http.Client
}

func parseRemedy(b spec.Block) (any, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		// Semantic checks assume well-typed values; report these first.
		return nil, err
	}
	r := &remedy{action: cfg.Action, endpoint: "http://" + apiHost, policy: cfg.Policy.WithDefaults()}
	var errs []error
	if err := cfg.Policy.Validate(b); err != nil {
		errs = append(errs, err)
	}

	if cfg.Container == "" {
		errs = append(errs, b.Errorf("container", "required"))
	} else if t, err := compile(cfg.Container); err != nil {
		errs = append(errs, b.Errorf("container", "%v", err))
	} else {
		r.container = t
	}

	if r.action == "" {
		r.action = "restart"
	} else if !slices.Contains([]string{"restart", "start", "stop", "kill"}, r.action) {
		errs = append(errs, b.Errorf("action", "must be one of restart, start, stop, kill; got %q", r.action))
	}

	socket, err := socketPath(b, cfg)
	if err != nil {
		errs = append(errs, err)
	}

	if cfg.StopTimeout != nil {
		d := cfg.StopTimeout.Std()
		switch {
		case r.action != "restart" && r.action != "stop":
			errs = append(errs, b.Errorf("stop_timeout", "only applies to the restart and stop actions"))
		case d%time.Second != 0:
			errs = append(errs, b.Errorf("stop_timeout", "must be a whole number of seconds, got %s", d))
		case d >= r.policy.Timeout.Std():
			// Otherwise every attempt is cut off while Docker is still waiting.
			errs = append(errs, b.Errorf("stop_timeout", "must be shorter than timeout (%s), got %s", r.policy.Timeout.Std(), d))
		default:
			r.query = "t=" + strconv.Itoa(int(d/time.Second))
		}
	}

	if cfg.APIVersion != "" {
		if !validVersion(cfg.APIVersion) {
			errs = append(errs, b.Errorf("api_version", "must look like 1.41, got %q", cfg.APIVersion))
		}
		r.endpoint += "/v" + cfg.APIVersion
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	r.dest = "docker:" + path.Clean(socket)
	r.client = &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r, nil
}

// socketPath picks the socket from `socket` or a unix:// `host`.
func socketPath(b spec.Block, cfg config) (string, error) {
	switch {
	case cfg.Socket != "" && cfg.Host != "":
		return "", b.Errorf("host", "set socket or host, not both")
	case cfg.Host != "":
		p, ok := strings.CutPrefix(cfg.Host, "unix://")
		if !ok {
			return "", b.Errorf("host", "only unix:// hosts are supported, got %q", cfg.Host)
		}
		if !path.IsAbs(p) {
			return "", b.Errorf("host", "want unix:///absolute/path, got %q", cfg.Host)
		}
		return p, nil
	case cfg.Socket != "":
		if !path.IsAbs(cfg.Socket) {
			return "", b.Errorf("socket", "must be an absolute path, got %q", cfg.Socket)
		}
		return cfg.Socket, nil
	}
	return defaultSocket, nil
}

// validVersion reports whether v looks like an API version, "1.41".
func validVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	return ok && digits(major) && digits(minor)
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compile parses the container template and tries it with sample data, so
// that an unknown field is a load error too.
func compile(text string) (*template.Template, error) {
	t, err := template.New("container").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	sample := intervention.Request{Monitor: "monitor", State: "down", Reason: "status 503", Groups: []string{"group"}, Attempt: 1}
	if err := t.Execute(io.Discard, sample); err != nil {
		return nil, err
	}
	return t, nil
}

// Policy returns the retry and timeout policy with defaults applied.
func (r *remedy) Policy() intervention.Policy { return r.policy }

// Destination returns "docker:" and the daemon's socket path, however it was
// configured (socket or a unix:// host), so that every container restarted
// through one daemon shares its breaker. The container is not part of it.
func (r *remedy) Destination(intervention.Request) string { return r.dest }

// Apply sends one POST /containers/{id}/{action}.
func (r *remedy) Apply(ctx context.Context, req intervention.Request) error {
	var b strings.Builder
	if err := r.container.Execute(&b, req); err != nil {
		return fmt.Errorf("docker %s: %w", r.action, err)
	}
	// Docker reports names with a leading slash ("/web"); accept them.
	name := strings.TrimPrefix(strings.TrimSpace(b.String()), "/")
	if name == "" {
		return fmt.Errorf("docker %s: the container template gave an empty name", r.action)
	}

	u := r.endpoint + "/containers/" + url.PathEscape(name) + "/" + r.action
	if r.query != "" {
		u += "?" + r.query
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", r.action, name, err)
	}
	resp, err := r.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", r.action, name, httpclient.UnwrapURLError(err)) // not the placeholder URL
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))

	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusNotModified && (r.action == "start" || r.action == "stop"):
		return nil // already started or stopped
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("docker %s: no such container %s", r.action, name)
	}
	if msg := message(body); msg != "" {
		return fmt.Errorf("docker %s %s: status %d: %s", r.action, name, resp.StatusCode, msg)
	}
	return fmt.Errorf("docker %s %s: status %d", r.action, name, resp.StatusCode)
}

// message extracts Docker's {"message": "..."} error text, falling back to
// the start of a body that is not Docker's JSON (a proxy's error page).
func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
