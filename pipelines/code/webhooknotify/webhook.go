package webhooknotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// Kind registers the notifier as `notify: webhook`.
var Kind = code.Kind{Name: "webhook", Parse: Parse}

const defaultTimeout = 10 * time.Second

type config struct {
	URL             string            `yaml:"url"`
	Headers         map[string]string `yaml:"headers"`
	Timeout         *spec.Duration    `yaml:"timeout"` // nil means the default
	TLSConfig       certs.Config      `yaml:"tls_config"`
	httpclient.Auth `yaml:",inline"`  // basic_auth, authorization, oauth2
}

// Notifier posts codes to one URL.
type Notifier struct {
	url     string
	dest    string
	headers http.Header
	timeout time.Duration
	client  *http.Client
}

// Parse validates the block. The Notifier it returns is inert until used:
// its HTTP client opens connections only to deliver.
func Parse(b spec.Block) (any, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	var errs []error
	u, err := httpclient.ParseURL(b, "url", cfg.URL)
	errs = append(errs, err)
	headers, err := httpclient.ParseHeaders(b, cfg.Headers)
	errs = append(errs, err)
	timeout := defaultTimeout
	if cfg.Timeout != nil {
		timeout = cfg.Timeout.Std()
		if timeout <= 0 {
			errs = append(errs, b.Errorf("timeout", "must be greater than zero"))
		}
	}
	errs = append(errs, cfg.Auth.Validate(b)...)
	tlsCfg, err := cfg.TLSConfig.Build(b)
	errs = append(errs, err)
	if cfg.Auth.Set() && headers.Get("Authorization") != "" {
		errs = append(errs, b.Errorf("headers", "Authorization is set by basic_auth, authorization or oauth2; not both"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Notifier{
		url:     u.String(),
		dest:    "webhook:" + httpclient.Redact(u),
		headers: headers,
		timeout: timeout,
		client:  httpclient.NewClient(cfg.Auth, tlsCfg),
	}, nil
}

// payload is the JSON body, version 1.
type payload struct {
	Version  string            `json:"version"`
	Time     string            `json:"time"`
	Monitor  string            `json:"monitor"`
	About    string            `json:"about,omitempty"` // "host" or "alert" when not a monitor
	Code     string            `json:"code"`
	Severity string            `json:"severity"`
	State    string            `json:"state"`
	Message  string            `json:"message"`
	Groups   []string          `json:"groups"`
	Labels   map[string]string `json:"labels"`
	TraceID  string            `json:"trace_id,omitempty"`
	Incident uint64            `json:"incident_id,omitempty"`
}

// Notify makes one POST. The body depends only on the notification, so a
// retry sends the same bytes.
func (n *Notifier) Notify(ctx context.Context, note domain.Notification) error {
	t := note.Time
	if t.IsZero() {
		t = time.Now()
	}
	p := payload{
		Version:  "1",
		Time:     t.UTC().Format(time.RFC3339Nano),
		Monitor:  note.Monitor,
		About:    about(note),
		Code:     note.Code.String(),
		Severity: note.Code.Severity(),
		State:    note.State,
		Message:  note.Message,
		Groups:   note.Groups,
		Labels:   note.Labels,
		TraceID:  note.TraceID(),
		Incident: note.Incident,
	}
	// Receivers get [] and {}, never null.
	if p.Groups == nil {
		p.Groups = []string{}
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", n.dest, err)
	}
	return n.post(ctx, body)
}

func (n *Notifier) post(ctx context.Context, body []byte) error {
	return httpclient.PostJSON(ctx, n.client, n.url, n.headers, body, n.timeout, n.dest)
}

// Destination returns "webhook:<url>" without userinfo, query or fragment,
// which may hold secrets.
func (n *Notifier) Destination() string { return n.dest }

// Close releases idle connections.
func (n *Notifier) Close(context.Context) error {
	n.client.CloseIdleConnections()
	return nil
}

// about is what a code that is not about a monitor is about.
func about(n domain.Notification) string {
	if n.About == domain.AboutMonitor {
		return ""
	}
	return n.About.String()
}
