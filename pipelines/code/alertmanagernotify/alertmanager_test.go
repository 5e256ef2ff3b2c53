package alertmanagernotify

import (
	"go.opentelemetry.io/otel/trace"

	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// post is one request the fake Alertmanager received.
type post struct {
	at     time.Time // when it arrived
	header http.Header
	alerts []alert
}

// fakeAM records POST /api/v2/alerts and answers with status (200 unless
// set).
type fakeAM struct {
	url    string
	status atomic.Int32
	mu     sync.Mutex
	posts  []post
}

func newFakeAM(t *testing.T) *fakeAM {
	f := &fakeAM{}
	f.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client gave up mid-request, as Close does to the resend loop
		}
		var alerts []alert
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Errorf("decode body: %v", err)
		}
		status := int(f.status.Load())
		if status == http.StatusOK {
			f.mu.Lock()
			f.posts = append(f.posts, post{time.Now(), r.Header.Clone(), alerts})
			f.mu.Unlock()
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "status %d from the fake", status)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// accepted returns the POSTs answered with 200.
func (f *fakeAM) accepted() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...)
}

func (f *fakeAM) last(t *testing.T) post {
	t.Helper()
	p := f.accepted()
	if len(p) == 0 {
		t.Fatal("no POST accepted")
	}
	return p[len(p)-1]
}

func newNotifier(t *testing.T, yaml string) *Notifier {
	t.Helper()
	n, err := Kind.New(spectest.Block(t, yaml), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n.(*Notifier)
}

// hour keeps the resend loop out of tests that count POSTs.
const hour = "resend_interval: 1h\n"

func notify(t *testing.T, n *Notifier, note domain.Notification) {
	t.Helper()
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatalf("Notify(%s %s): %v", note.Monitor, note.Code, err)
	}
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func note(monitor string, c domain.Code, at time.Time) domain.Notification {
	return domain.Notification{Time: at, Monitor: monitor, Code: c, State: map[domain.Code]string{
		domain.Yellow: "degraded", domain.Red: "down", domain.Cyan: "verifying", domain.Green: "healthy", domain.Gray: "maintenance",
	}[c], Message: c.String() + " happened"}
}

// firing and resolved check an alert's timing against the POST's arrival.
func firing(t *testing.T, p post, a alert, resend time.Duration) {
	t.Helper()
	// endsAt = send time + 4×resend, and the send happened before arrival.
	if !a.EndsAt.After(p.at.Add(3 * resend)) {
		t.Errorf("%v firing alert ends at %v, want about 4×%v after %v", a.Labels, a.EndsAt, resend, p.at)
	}
}

func resolved(t *testing.T, p post, a alert) {
	t.Helper()
	if a.EndsAt.After(p.at) {
		t.Errorf("%v resolved alert ends at %v, after it arrived (%v)", a.Labels, a.EndsAt, p.at)
	}
}

func TestPayload(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour+`
headers: {X-Scope-OrgID: team-a}
basic_auth: {username: cpra, password: s3cret}
labels: {env: prod, shard: static}
generator_url: http://127.0.0.1:3000/d/cpra
`)
	nt := domain.Notification{
		Time: t0, Monitor: "api", Code: domain.Red, State: "down", Message: "3 consecutive failures: status 503",
		Groups: []string{"web", "edge", "web"},
		Labels: map[string]string{
			"shard": "1", "zone": "a",
			"severity": "low", "monitor": "other", // built-in names are dropped
			"bad-name": "x", "empty": "", // invalid name, empty value
		},
		Trace: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
			SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
		}),
	}
	notify(t, n, nt)

	p := am.last(t)
	if len(p.alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(p.alerts))
	}
	a := p.alerts[0]
	wantLabels := map[string]string{
		"alertname": "CPRAMonitor", "monitor": "api", "code": "red", "severity": "critical",
		"groups": "edge,web", "env": "prod", "shard": "1", "zone": "a",
	}
	if !maps.Equal(a.Labels, wantLabels) {
		t.Errorf("labels:\n got %v\nwant %v", a.Labels, wantLabels)
	}
	wantAnnotations := map[string]string{
		"summary": "api is down", "description": "3 consecutive failures: status 503", "state": "down",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	if !maps.Equal(a.Annotations, wantAnnotations) {
		t.Errorf("annotations:\n got %v\nwant %v", a.Annotations, wantAnnotations)
	}
	if !a.StartsAt.Equal(t0) || a.GeneratorURL != "http://127.0.0.1:3000/d/cpra" {
		t.Errorf("startsAt %v generatorURL %q", a.StartsAt, a.GeneratorURL)
	}
	firing(t, p, a, time.Hour)

	user, pass, ok := (&http.Request{Header: p.header}).BasicAuth()
	if !ok || user != "cpra" || pass != "s3cret" {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "cpra-agent", "X-Scope-Orgid": "team-a",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestSeverityAndGroups(t *testing.T) {
	tests := []struct {
		code     domain.Code
		groups   []string
		severity string
		group    string // "" means the label is absent
	}{
		{domain.Yellow, nil, "warning", ""},
		{domain.Red, []string{}, "critical", ""},
		{domain.Cyan, []string{"db"}, "info", "db"},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			am := newFakeAM(t)
			n := newNotifier(t, "url: "+am.url+"\n"+hour)
			nt := note("m", tt.code, t0)
			nt.Groups = tt.groups
			notify(t, n, nt)
			l := am.last(t).alerts[0].Labels
			group, hasGroup := l["groups"]
			if l["severity"] != tt.severity || l["code"] != tt.code.String() || group != tt.group || hasGroup != (tt.group != "") {
				t.Errorf("labels %v", l)
			}
		})
	}
}

// replacing is n, which replaces the firing code held of (sent at at).
func replacing(n domain.Notification, held domain.Code, at time.Time) domain.Notification {
	n.Replaces = domain.Fired{Code: held, At: at}
	return n
}

func TestCodeChangeReplacesAlert(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	notify(t, n, note("api", domain.Yellow, t0))
	notify(t, n, replacing(note("api", domain.Red, t0.Add(time.Minute)), domain.Yellow, t0))

	p := am.last(t)
	if len(p.alerts) != 2 {
		t.Fatalf("%d alerts, want the resolved yellow and the firing red", len(p.alerts))
	}
	old, cur := p.alerts[0], p.alerts[1]
	if old.Labels["code"] != "yellow" || old.Labels["severity"] != "warning" || !old.StartsAt.Equal(t0) {
		t.Errorf("first alert %v from %v, want yellow from %v", old.Labels, old.StartsAt, t0)
	}
	resolved(t, p, old)
	if cur.Labels["code"] != "red" || !cur.StartsAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("second alert %v from %v, want red", cur.Labels, cur.StartsAt)
	}
	firing(t, p, cur, time.Hour)

	// The same code again is the same alert: no resolution, same startsAt.
	notify(t, n, replacing(note("api", domain.Red, t0.Add(2*time.Minute)), domain.Red, t0.Add(time.Minute)))
	p = am.last(t)
	if len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "red" || !p.alerts[0].StartsAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("repeated red sent %+v, want only red with its first startsAt", p.alerts)
	}
}

func TestResolvingCodes(t *testing.T) {
	for _, c := range []domain.Code{domain.Green, domain.Gray} {
		t.Run(c.String(), func(t *testing.T) {
			am := newFakeAM(t)
			n := newNotifier(t, "url: "+am.url+"\n"+hour)

			notify(t, n, note("idle", c, t0)) // nothing firing here: nothing sent
			if got := len(am.accepted()); got != 0 {
				t.Fatalf("%s without an alert sent %d POSTs", c, got)
			}

			notify(t, n, replacing(note("api", c, t0.Add(time.Minute)), domain.Cyan, t0))
			p := am.last(t)
			if len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "cyan" || !p.alerts[0].StartsAt.Equal(t0) {
				t.Fatalf("%s sent %+v, want the cyan alert resolved", c, p.alerts)
			}
			resolved(t, p, p.alerts[0])
			if p.alerts[0].Annotations["state"] != note("", c, t0).State {
				t.Errorf("resolution annotations %v, want the new state", p.alerts[0].Annotations)
			}
		})
	}
}

func TestResendKeepsTheAlertAlive(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\nresend_interval: 2m\n")
	if got := n.ResendInterval(); got != 2*time.Minute {
		t.Fatalf("ResendInterval = %v", got)
	}
	red := note("api", domain.Red, t0)
	notify(t, n, red)
	first := am.last(t).alerts[0]
	again := red
	again.Resend = true
	again.Replaces = domain.Fired{Code: domain.Red, At: t0}
	notify(t, n, again)
	p := am.last(t)
	if len(p.alerts) != 1 || !p.alerts[0].StartsAt.Equal(t0) || p.alerts[0].EndsAt.Before(first.EndsAt) {
		t.Fatalf("resend posted %+v, want red from %v ending no earlier than %v", p.alerts, t0, first.EndsAt)
	}
	firing(t, p, p.alerts[0], 2*time.Minute)
}

func TestIncidentAnnotation(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	red := note("api", domain.Red, t0)
	red.Incident = 1767323045000000001
	notify(t, n, red)
	if got := am.last(t).alerts[0].Annotations["incident_id"]; got != "1767323045000000001" {
		t.Errorf("incident_id annotation %q", got)
	}
}

func TestErrorAndRetry(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	red := replacing(note("api", domain.Red, t0.Add(time.Minute)), domain.Yellow, t0)
	am.status.Store(http.StatusInternalServerError)
	err := n.Notify(context.Background(), red)
	want := "alertmanager:" + am.url + `: status 500 Internal Server Error: "status 500 from the fake"`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}

	// A retry sends the same alerts: the notification says it all.
	am.status.Store(http.StatusOK)
	notify(t, n, red)
	p := am.last(t)
	if len(p.alerts) != 2 || p.alerts[0].Labels["code"] != "yellow" || p.alerts[1].Labels["code"] != "red" {
		t.Fatalf("retry sent %+v, want yellow resolved and red", p.alerts)
	}
	resolved(t, p, p.alerts[0])
}

func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	n := newNotifier(t, "url: "+url+"\n"+hour)
	err := n.Notify(context.Background(), note("api", domain.Red, t0))
	if err == nil || !strings.HasPrefix(err.Error(), "alertmanager:"+url+": ") {
		t.Errorf("error %v, want one naming the destination", err)
	}
}

func TestUnknownCode(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	if err := n.Notify(context.Background(), note("api", domain.Code(0), t0)); err == nil {
		t.Error("code(0) accepted")
	}
}

func TestNotifyAfterClose(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A delivery queued before a reload retired the notifier still goes.
	notify(t, n, replacing(note("api", domain.Green, t0.Add(time.Second)), domain.Red, t0))
	if p := am.last(t); len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "red" {
		t.Fatalf("sent %+v after Close, want red resolved", p.alerts)
	}
}

// basic_auth takes its password from a file, as Prometheus's does.
func TestBasicAuthPasswordFile(t *testing.T) {
	am := newFakeAM(t)
	pw := t.TempDir() + "/pw"
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, "url: "+am.url+"\n"+hour+"basic_auth: {username: cpra, password_file: "+pw+"}\n")
	notify(t, n, note("api", domain.Red, t0))
	user, pass, ok := (&http.Request{Header: am.last(t).header}).BasicAuth()
	if !ok || user != "cpra" || pass != "s3cret" {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
}

// tls_config.ca_file trusts an Alertmanager whose certificate a private CA
// signed; without it the system's CAs refuse it.
func TestTLSConfigCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := newNotifier(t, "url: "+srv.URL+"\n"+hour+"tls_config: {ca_file: "+ca+"}\n")
	notify(t, trusted, note("api", domain.Red, t0))
	untrusted := newNotifier(t, "url: "+srv.URL+"\n"+hour)
	if err := untrusted.Notify(context.Background(), note("api", domain.Red, t0)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without ca_file: %v, want a certificate error", err)
	}
}
