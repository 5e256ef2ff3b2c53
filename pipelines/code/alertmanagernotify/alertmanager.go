package alertmanagernotify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/httpclient"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/spec"
)

// Kind registers the notifier as `notify: alertmanager`.
var Kind = code.Kind{Name: "alertmanager", New: New}

const (
	Alertname = "CPRAMonitor" // the alertname of every code sent to Alertmanager
	userAgent = "cpra-agent"
	// endsAtFactor × resend_interval is how far ahead a firing alert ends:
	// three resends may be lost before Alertmanager expires it.
	endsAtFactor   = 4
	maxBatch       = 1000 // alerts per POST when re-sending
	errorBodyLimit = 200  // bytes of a rejected response quoted in the error
)

// alert is one element of the POST /api/v2/alerts body. Its maps are never
// changed once built, so copies may share them.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// monitorAlerts is what the notifier knows of one monitor.
type monitorAlerts struct {
	last     time.Time // time of the newest code applied
	firing   *alert    // the current alert, nil when none
	resolved []alert   // resolved alerts Alertmanager has not accepted yet
}

// Notifier sends codes to one Alertmanager.
type Notifier struct {
	s        settings
	endpoint string
	dest     string
	client   *http.Client
	log      *slog.Logger

	// sendMu keeps the resend loop's POSTs apart from Notify's: Notify calls
	// share it, the loop holds it alone from its snapshot to its last POST,
	// so an old snapshot can never arrive after, and undo, a newer code.
	sendMu   sync.RWMutex
	mu       sync.Mutex // guards monitors
	monitors map[string]*monitorAlerts

	stop func()
	done chan struct{} // closed when the resend loop has returned
}

// New validates the block and starts the resend loop.
func New(b spec.Block, deps kind.Deps) (code.Notifier, error) {
	s, err := parseConfig(b)
	if err != nil {
		return nil, err
	}
	log := deps.WithDefaults().Logger
	dest := "alertmanager:" + redact(s.base)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		s:        s,
		endpoint: s.base.JoinPath("api/v2/alerts").String(),
		dest:     dest,
		client:   newClient(),
		log:      log.With("destination", dest),
		monitors: map[string]*monitorAlerts{},
		stop:     sync.OnceFunc(cancel),
		done:     make(chan struct{}),
	}
	go n.resendLoop(ctx)
	return n, nil
}

// Destination returns "alertmanager:<url>" without userinfo.
func (n *Notifier) Destination() string { return n.dest }

// Notify applies the code to the monitor's alert and posts what changed.
func (n *Notifier) Notify(ctx context.Context, note domain.Notification) error {
	if !note.Code.Resolves() && note.Code.Severity() == "" {
		return fmt.Errorf("%s: cannot send %s", n.dest, note.Code)
	}
	n.sendMu.RLock()
	defer n.sendMu.RUnlock()

	now := time.Now()
	n.mu.Lock()
	batch := n.apply(note, now)
	n.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := n.post(ctx, batch); err != nil {
		return err
	}
	n.mu.Lock()
	n.delivered(batch)
	n.mu.Unlock()
	return nil
}

// apply updates the monitor's state and returns the alerts to send for it.
// Called with mu held.
func (n *Notifier) apply(note domain.Notification, now time.Time) []alert {
	at := note.Time
	if at.IsZero() {
		at = now
	}
	m := n.monitors[note.Monitor]
	if m == nil {
		if note.Code.Resolves() {
			return nil // nothing is firing, nothing to resolve
		}
		m = &monitorAlerts{}
		n.monitors[note.Monitor] = m
	}
	if at.Before(m.last) {
		return nil // a retry overtaken by a newer code: the newer one stands
	}
	m.last = at

	if note.Code.Resolves() {
		m.resolve(now)
	} else {
		a := n.alertFor(note, at)
		if m.firing != nil && maps.Equal(m.firing.Labels, a.Labels) {
			a.StartsAt = m.firing.StartsAt // the same alert: it started then
		} else {
			m.resolve(now)
		}
		m.firing = &a
	}
	return m.pending(now, n.s.resend)
}

// resolve moves the firing alert, if any, to the resolved ones.
func (m *monitorAlerts) resolve(now time.Time) {
	if m.firing == nil {
		return
	}
	r := *m.firing
	r.EndsAt = later(now, r.StartsAt) // Alertmanager rejects endsAt before startsAt
	m.firing = nil
	// One pending resolution per alert identity is enough: the latest.
	m.resolved = slices.DeleteFunc(m.resolved, func(o alert) bool { return maps.Equal(o.Labels, r.Labels) })
	m.resolved = append(m.resolved, r)
}

// pending returns the resolutions followed by the firing alert with a fresh
// endsAt. The order matters: Alertmanager applies a batch in order, and a
// resolution and a new firing alert can share labels.
func (m *monitorAlerts) pending(now time.Time, resend time.Duration) []alert {
	out := slices.Clone(m.resolved)
	if m.firing != nil {
		f := *m.firing
		f.EndsAt = later(now.Add(endsAtFactor*resend), f.StartsAt)
		out = append(out, f)
	}
	return out
}

func (m *monitorAlerts) empty() bool { return m.firing == nil && len(m.resolved) == 0 }

// delivered forgets the resolutions Alertmanager accepted, and monitors
// with nothing left. Called with mu held.
func (n *Notifier) delivered(sent []alert) {
	for _, a := range sent {
		name := a.Labels["monitor"]
		m := n.monitors[name]
		if m == nil {
			continue
		}
		m.resolved = slices.DeleteFunc(m.resolved, func(o alert) bool {
			return o.EndsAt.Equal(a.EndsAt) && maps.Equal(o.Labels, a.Labels)
		})
		if m.empty() {
			delete(n.monitors, name)
		}
	}
}

func (n *Notifier) alertFor(note domain.Notification, at time.Time) alert {
	labels := maps.Clone(n.s.labels)
	for k, v := range note.Labels {
		if v != "" && model.LegacyValidation.IsValidLabelName(k) && !builtinLabel(k) {
			labels[k] = v
		}
	}
	labels["alertname"] = Alertname
	labels["monitor"] = note.Monitor
	labels["code"] = note.Code.String()
	labels["severity"] = note.Code.Severity()
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

// resendLoop re-posts what is pending every resend_interval until Close.
func (n *Notifier) resendLoop(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.s.resend)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.resend(ctx, true); err != nil && ctx.Err() == nil {
			n.log.Warn("re-sending alerts failed; trying again next interval", "err", err)
		}
	}
}

// resend posts every pending resolution and, when firing is set, every
// firing alert, in batches of at most maxBatch. It stops at the first
// failure: the rest would most likely fail too, and Notify waits meanwhile.
func (n *Notifier) resend(ctx context.Context, firing bool) error {
	n.sendMu.Lock()
	defer n.sendMu.Unlock()

	now := time.Now()
	// A resolution older than this is moot: the last firing version we sent
	// has expired in Alertmanager by now.
	stale := now.Add(-endsAtFactor * n.s.resend)
	var all []alert
	n.mu.Lock()
	for name, m := range n.monitors {
		m.resolved = slices.DeleteFunc(m.resolved, func(a alert) bool { return a.EndsAt.Before(stale) })
		if m.empty() {
			delete(n.monitors, name)
			continue
		}
		if firing {
			all = append(all, m.pending(now, n.s.resend)...)
		} else {
			all = append(all, m.resolved...)
		}
	}
	n.mu.Unlock()

	for batch := range slices.Chunk(all, maxBatch) {
		if err := n.post(ctx, batch); err != nil {
			return err
		}
		n.mu.Lock()
		n.delivered(batch)
		n.mu.Unlock()
	}
	return nil
}

// Close stops the resend loop, then makes one attempt to deliver pending
// resolutions. Firing alerts stay firing in Alertmanager until they expire.
func (n *Notifier) Close(ctx context.Context) error {
	n.stop()
	select {
	case <-n.done:
	case <-ctx.Done():
		return fmt.Errorf("%s: close: %w", n.dest, ctx.Err())
	}
	err := n.resend(ctx, false)
	n.client.CloseIdleConnections()
	return err
}

func (n *Notifier) post(ctx context.Context, alerts []alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", n.dest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", n.dest, err)
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range n.s.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if ba := n.s.basicAuth; ba != nil {
		req.SetBasicAuth(ba.Username, ba.Password)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", n.dest, httpclient.UnwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	return fmt.Errorf("%s: status %s: %q", n.dest, resp.Status, bytes.TrimSpace(snippet))
}

func newClient() *http.Client {
	return &http.Client{
		// Own connection pool per notifier, so Close releases only ours.
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		// A redirect would turn the POST into a GET and hide the failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
