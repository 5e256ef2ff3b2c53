package alertmanagernotify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// Kind registers the notifier as `notify: alertmanager`.
var Kind = code.Kind{Name: "alertmanager", Parse: Parse}

const (
	Alertname = "CPRAMonitor" // the alertname of every code sent to Alertmanager
	// SubjectLabel says what an alert that is not about a monitor is
	// about: "host" (a host's breaker opened) or "alert" (relayed from
	// Alertmanager). Monitors' alerts do not have it.
	SubjectLabel = "cpra_subject"
	// endsAtFactor × resend_interval is how far ahead a firing alert ends:
	// three resends may be lost before Alertmanager expires it.
	endsAtFactor = 4
)

// alert is one element of the POST /api/v2/alerts body.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notifier sends codes to one Alertmanager. It keeps no state: the owner
// says which firing alert a code replaces (Notification.Replaces) and
// re-sends firing codes every ResendInterval, so a notifier replaced by a
// reload can be closed at once without losing an alert.
type Notifier struct {
	s        settings
	endpoint string
	dest     string
	client   *http.Client
}

// Parse validates the block. The Notifier it returns is inert until used:
// its HTTP client opens connections only to deliver.
func Parse(b spec.Block) (any, error) {
	s, err := parseConfig(b)
	if err != nil {
		return nil, err
	}
	return &Notifier{
		s:        s,
		endpoint: s.base.JoinPath("api/v2/alerts").String(),
		dest:     "alertmanager:" + redact(s.base),
		client:   httpclient.NewClient(s.auth, s.tls),
	}, nil
}

// Destination returns "alertmanager:<url>" without userinfo.
func (n *Notifier) Destination() string { return n.dest }

// ResendInterval is the configured resend_interval: Alertmanager keeps a
// firing alert for four of them.
func (n *Notifier) ResendInterval() time.Duration { return n.s.resend }

// Notify posts the alerts the notification stands for: the resolution of
// the alert it replaces, then its own firing alert.
func (n *Notifier) Notify(ctx context.Context, note domain.Notification) error {
	if !note.Code.Resolves() && !note.Code.Firing() {
		return fmt.Errorf("%s: cannot send %s", n.dest, note.Code)
	}
	batch := n.alerts(note, time.Now())
	if len(batch) == 0 {
		return nil // a resolution with nothing firing here
	}
	return n.post(ctx, batch)
}

// alerts builds the POST body. The order matters: Alertmanager applies a
// batch in order, and the resolution and the new alert may share labels.
func (n *Notifier) alerts(note domain.Notification, now time.Time) []alert {
	at := note.Time
	if at.IsZero() {
		at = now
	}
	var out []alert
	held := note.Replaces
	if held.Code.Firing() && held.Code != note.Code {
		r := n.alertFor(note, held.Code, held.At)
		r.EndsAt = later(now, r.StartsAt) // Alertmanager rejects endsAt before startsAt
		out = append(out, r)
	}
	if note.Code.Firing() {
		start := at
		if held.Code == note.Code && !held.At.IsZero() {
			start = held.At // the same alert again: it started then
		}
		f := n.alertFor(note, note.Code, start)
		f.EndsAt = later(now.Add(endsAtFactor*n.s.resend), f.StartsAt)
		out = append(out, f)
	}
	return out
}

// alertFor is the alert of code c for the notification's monitor.
func (n *Notifier) alertFor(note domain.Notification, c domain.Code, at time.Time) alert {
	labels := maps.Clone(n.s.labels)
	for k, v := range note.Labels {
		if v != "" && model.LegacyValidation.IsValidLabelName(k) && !builtinLabel(k) {
			labels[k] = v
		}
	}
	labels["alertname"] = Alertname
	labels["monitor"] = note.Monitor
	if note.About != domain.AboutMonitor {
		// A host or a relayed alert is never the same alert as a monitor
		// of the same name.
		labels[SubjectLabel] = note.About.String()
	}
	labels["code"] = c.String()
	labels["severity"] = c.Severity()
	if len(note.Groups) > 0 {
		groups := slices.Compact(slices.Sorted(slices.Values(note.Groups)))
		labels["groups"] = strings.Join(groups, ",")
	}
	state := note.State
	if state == "" {
		state = note.Code.String()
	}
	annotations := map[string]string{
		"summary": note.Monitor + " is " + state,
		"state":   state,
	}
	if note.Message != "" {
		annotations["description"] = note.Message
	}
	if id := note.TraceID(); id != "" {
		annotations["trace_id"] = id
	}
	if note.Incident != 0 {
		annotations["incident_id"] = strconv.FormatUint(note.Incident, 10)
	}
	return alert{
		Labels:       labels,
		Annotations:  annotations,
		StartsAt:     at.UTC(),
		GeneratorURL: n.s.generatorURL,
	}
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// Close releases idle connections. Notify keeps working: a delivery
// queued before a reload replaced the notifier still goes out.
func (n *Notifier) Close(context.Context) error {
	n.client.CloseIdleConnections()
	return nil
}

func (n *Notifier) post(ctx context.Context, alerts []alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", n.dest, err)
	}
	return httpclient.PostJSON(ctx, n.client, n.endpoint, n.s.headers, body, n.s.timeout, n.dest)
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
