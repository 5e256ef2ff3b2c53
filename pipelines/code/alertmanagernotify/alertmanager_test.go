package alertmanagernotify

import (
	"go.opentelemetry.io/otel/trace"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/pipelines/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/spec/spectest"
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
	n, err := New(spectest.Block(t, yaml), kind.Deps{})
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

func TestCodeChangeReplacesAlert(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	notify(t, n, note("api", domain.Yellow, t0))
	notify(t, n, note("api", domain.Red, t0.Add(time.Minute)))

	p := am.last(t)
	if len(p.alerts) != 2 {
		t.Fatalf("%d alerts, want the resolved yellow and the firing red", len(p.alerts))
	}
	old, cur := p.alerts[0], p.alerts[1]
	if old.Labels["code"] != "yellow" || !old.StartsAt.Equal(t0) {
		t.Errorf("first alert %v from %v, want yellow from %v", old.Labels, old.StartsAt, t0)
	}
	resolved(t, p, old)
	if cur.Labels["code"] != "red" || !cur.StartsAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("second alert %v from %v, want red", cur.Labels, cur.StartsAt)
	}
	firing(t, p, cur, time.Hour)

	// The same code again is the same alert: no resolution, same startsAt.
	notify(t, n, note("api", domain.Red, t0.Add(2*time.Minute)))
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

			notify(t, n, note("idle", c, t0)) // nothing firing: nothing sent
			if got := len(am.accepted()); got != 0 {
				t.Fatalf("%s without an alert sent %d POSTs", c, got)
			}

			notify(t, n, note("api", domain.Cyan, t0))
			notify(t, n, note("api", c, t0.Add(time.Minute)))
			p := am.last(t)
			if len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "cyan" {
				t.Fatalf("%s sent %+v, want the cyan alert resolved", c, p.alerts)
			}
			resolved(t, p, p.alerts[0])

			// Forgotten: a second one sends nothing.
			notify(t, n, note("api", c, t0.Add(2*time.Minute)))
			if got := len(am.accepted()); got != 2 {
				t.Errorf("%d POSTs, want 2", got)
			}
			if len(n.monitors) != 0 {
				t.Errorf("state kept for %d monitors", len(n.monitors))
			}
		})
	}
}

func TestErrorAndRetry(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	notify(t, n, note("api", domain.Yellow, t0))

	red := note("api", domain.Red, t0.Add(time.Minute))
	am.status.Store(http.StatusInternalServerError)
	err := n.Notify(context.Background(), red)
	want := "alertmanager:" + am.url + `: status 500 Internal Server Error: "status 500 from the fake"`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}

	// The retry still resolves yellow along with red.
	am.status.Store(http.StatusOK)
	notify(t, n, red)
	p := am.last(t)
	if len(p.alerts) != 2 || p.alerts[0].Labels["code"] != "yellow" || p.alerts[1].Labels["code"] != "red" {
		t.Fatalf("retry sent %+v, want yellow resolved and red", p.alerts)
	}
	resolved(t, p, p.alerts[0])

	// A retry after a success sends red again and nothing else.
	notify(t, n, red)
	if p := am.last(t); len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "red" {
		t.Fatalf("second retry sent %+v, want red only", p.alerts)
	}

	// A failed green is remembered until delivered.
	green := note("api", domain.Green, t0.Add(2*time.Minute))
	am.status.Store(http.StatusServiceUnavailable)
	if err := n.Notify(context.Background(), green); err == nil {
		t.Fatal("Notify succeeded against a 503")
	}
	am.status.Store(http.StatusOK)
	notify(t, n, green)
	p = am.last(t)
	if len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "red" {
		t.Fatalf("green retry sent %+v, want red resolved", p.alerts)
	}
	resolved(t, p, p.alerts[0])
	before := len(am.accepted())
	notify(t, n, green)
	if len(am.accepted()) != before {
		t.Error("green retry after success sent again")
	}
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

func TestOlderCodeIgnored(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	notify(t, n, note("api", domain.Red, t0.Add(time.Minute)))
	notify(t, n, note("api", domain.Yellow, t0)) // a late retry of an earlier code
	if got := len(am.accepted()); got != 1 {
		t.Errorf("%d POSTs, want the older yellow ignored", got)
	}
	if f := n.monitors["api"].firing; f == nil || f.Labels["code"] != "red" {
		t.Errorf("current alert %+v, want red", f)
	}
}

func TestResendLoop(t *testing.T) {
	am := newFakeAM(t)
	n, err := New(spectest.Block(t, "url: "+am.url+"\nresend_interval: 20ms\n"), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	notify(t, n.(*Notifier), note("api", domain.Red, t0))
	notify(t, n.(*Notifier), note("db", domain.Yellow, t0))
	firstEnd := am.last(t).alerts[0].EndsAt

	// Wait for a re-post carrying both alerts, with endsAt pushed forward.
	waitFor(t, "a re-post of both firing alerts", func() bool {
		for _, p := range am.accepted() {
			if len(p.alerts) == 2 {
				for _, a := range p.alerts {
					if !a.StartsAt.Equal(t0) || !a.EndsAt.After(firstEnd) {
						t.Errorf("re-posted %v from %v to %v, want from %v to after %v",
							a.Labels, a.StartsAt, a.EndsAt, t0, firstEnd)
					}
				}
				return true
			}
		}
		return false
	})

	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := len(am.accepted())
	time.Sleep(100 * time.Millisecond) // the loop has returned; nothing may post now
	if got := len(am.accepted()); got != after {
		t.Errorf("%d POSTs after Close", got-after)
	}
}

func TestResendDeliversPendingResolution(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\nresend_interval: 20ms\n")
	notify(t, n, note("api", domain.Red, t0))

	am.status.Store(http.StatusBadGateway)
	if err := n.Notify(context.Background(), note("api", domain.Green, t0.Add(time.Second))); err == nil {
		t.Fatal("Notify succeeded against a 502")
	}
	am.status.Store(http.StatusOK)

	// The pipeline gave up; the loop sends the resolution, then forgets.
	waitFor(t, "the loop to deliver the resolution", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.monitors) == 0
	})
	p := am.last(t)
	if len(p.alerts) != 1 || p.alerts[0].Labels["code"] != "red" {
		t.Fatalf("last POST %+v, want red resolved", p.alerts)
	}
	resolved(t, p, p.alerts[0])
}

func TestCloseFlushesResolutions(t *testing.T) {
	am := newFakeAM(t)
	n, err := New(spectest.Block(t, "url: "+am.url+"\n"+hour), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	nn := n.(*Notifier)
	notify(t, nn, note("api", domain.Red, t0))
	notify(t, nn, note("db", domain.Red, t0))
	am.status.Store(http.StatusBadGateway)
	if err := n.Notify(context.Background(), note("api", domain.Green, t0.Add(time.Second))); err == nil {
		t.Fatal("Notify succeeded against a 502")
	}
	am.status.Store(http.StatusOK)

	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := am.last(t)
	if len(p.alerts) != 1 || p.alerts[0].Labels["monitor"] != "api" {
		t.Fatalf("Close sent %+v, want only api's resolution (db stays firing)", p.alerts)
	}
	resolved(t, p, p.alerts[0])
}

func TestCloseHonoursContext(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\n"+hour)
	notify(t, n, note("api", domain.Red, t0))
	am.status.Store(http.StatusBadGateway)
	_ = n.Notify(context.Background(), note("api", domain.Green, t0.Add(time.Second)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); err == nil {
		t.Error("Close with a cancelled context and a pending resolution succeeded")
	}
	am.status.Store(http.StatusOK) // the cleanup Close flushes
}

func TestConcurrentMonitors(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, "url: "+am.url+"\nresend_interval: 5ms\n")
	const monitors = 20
	var wg sync.WaitGroup
	for i := range monitors {
		wg.Go(func() {
			name := fmt.Sprintf("m%d", i)
			at := t0
			for _, c := range []domain.Code{domain.Yellow, domain.Red, domain.Cyan, domain.Green, domain.Red} {
				at = at.Add(time.Second)
				if err := n.Notify(context.Background(), note(name, c, at)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.monitors) != monitors {
		t.Fatalf("%d monitors tracked, want %d", len(n.monitors), monitors)
	}
	for name, m := range n.monitors {
		if m.firing == nil || m.firing.Labels["code"] != "red" || len(m.resolved) != 0 {
			t.Errorf("%s: firing %+v, %d pending resolutions; want red and none", name, m.firing, len(m.resolved))
		}
	}
}

// waitFor polls cond with a generous deadline: it asserts an outcome, never
// how fast it came.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
