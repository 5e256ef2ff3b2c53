package httpcheck

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/hostconns"
)

// Many monitors behind one slow host, with a connection ceiling below the
// checks running at once: a check waits for a slot on the agent's time and
// then gets the whole timeout for the target, so a healthy slow host is
// never charged with the agent's queueing; a check that gets no slot
// within its timeout is inconclusive, never a failure. The connections
// stay within the ceiling and are reused.
func TestCrowdedHostIsNotChargedForTheWait(t *testing.T) {
	const (
		checks  = 12
		ceiling = 4
		latency = 40 * time.Millisecond
		timeout = 100 * time.Millisecond // < checks/ceiling × latency: the last ones wait and answer past it
	)
	var inFlight, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(latency)
		inFlight.Add(-1)
	}))
	t.Cleanup(srv.Close)

	reg := prometheus.NewRegistry()
	limits, err := hostconns.New(hostconns.Config{Min: 1, Max: 64}, reg)
	if err != nil {
		t.Fatal(err)
	}
	p, addr, err := Kind.New(spectest.Block(t, "url: "+srv.URL+"/m\nmax_connections_per_host: 4\n"),
		kind.Deps{Registerer: reg, HostConns: limits})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]pulse.Result, checks)
	for i := range checks {
		wg.Go(func() {
			results[i], _, _ = pulse.Run(t.Context(), p, pulse.Target{Monitor: "m", Address: addr}, timeout)
		})
	}
	wg.Wait()
	late := 0 // passed although the wait and the answer took longer than the timeout
	for i, r := range results {
		switch {
		case r.Inconclusive == pulse.InconclusiveLocalPool: // a slow machine: no slot in time
		case !r.OK:
			t.Errorf("check %d: %+v; want success (the target answers in %v of %v)", i, r, latency, timeout)
		case r.Phases[pulse.PhaseProcessing] < latency/2:
			t.Errorf("check %d: processing phase %v, want about %v", i, r.Phases[pulse.PhaseProcessing], latency)
		case r.Phases[pulse.PhaseQueued]+r.Phases[pulse.PhaseProcessing] > timeout:
			late++
		}
	}
	if late == 0 {
		t.Errorf("no check passed after waiting for its slot longer than the timeout allows in all: %+v", results)
	}
	if m := most.Load(); m > ceiling {
		t.Errorf("the target saw %d requests at once, above max_connections_per_host %d", m, ceiling)
	}
	if dialed := testutil.ToFloat64(must(t, reg, "cpra_http_connections_dialed_total")); dialed > ceiling {
		t.Errorf("%v connections dialled for %d checks under a ceiling of %d: not reused", dialed, checks, ceiling)
	}
}

func must(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 {
				return f.GetMetric()[0].GetCounter().GetValue()
			})
		}
	}
	t.Fatalf("no family %s", name)
	return nil
}

// A kept connection the server closed while it was idle is not a failure
// of the target: the check asks again on a new connection.
func TestStaleKeptConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	closed := make(chan struct{}, 3)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default: // more than the test waits for
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	p, addr, err := Kind.New(spectest.Block(t, "url: "+srv.URL+"/x"), kind.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := probe(t, p, addr); !r.OK {
			t.Fatalf("check %d: %+v", i, r)
		}
		<-closed // the server closed the idle connection
	}
	if dialed := testutil.ToFloat64(must(t, reg, "cpra_http_connections_dialed_total")); dialed != 3 {
		t.Errorf("%v connections dialled for 3 checks each after the server closed the last: want 3", dialed)
	}
}

// A server that closes every connection after its answer (Connection:
// close) is answered on a new connection each time.
func TestConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
	}))
	t.Cleanup(srv.Close)
	p, addr := newFromYAML(t, "url: "+srv.URL+"/x")
	for i := range 3 {
		if r := probe(t, p, addr); !r.OK {
			t.Fatalf("check %d: %+v", i, r)
		}
	}
}

// User information in the URL is basic authentication, as net/http sends
// it, whichever path the check takes.
func TestUserInfoInURL(t *testing.T) {
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		u, pw, _ := r.BasicAuth()
		seen <- u + ":" + pw
	}))
	t.Cleanup(srv.Close)
	url := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/x?y=@z"
	p, addr := newFromYAML(t, "url: "+url)
	if r := probe(t, p, addr); !r.OK {
		t.Fatalf("%+v", r)
	}
	if got := <-seen; got != "alice:s3cret" {
		t.Errorf("server saw basic auth %q, want alice:s3cret", got)
	}
}

func TestRequestTarget(t *testing.T) {
	for _, tt := range []struct {
		address, target, authority string
		ok                         bool
	}{
		{"http://h:8080/health?deep=1", "/health?deep=1", "h:8080", true},
		{"http://h", "/", "h", true},
		{"http://h?x=1", "?x=1", "h", true},
		{"http://h/a#frag", "/a", "h", true},
		{"http://[::1]:80/x", "/x", "[::1]:80", true},
		{"http://h/a b", "", "", false},
		{"http://h/caf\u00e9", "", "", false},
	} {
		target, authority, ok := requestTarget(tt.address)
		if target != tt.target || authority != tt.authority || ok != tt.ok {
			t.Errorf("requestTarget(%q) = %q, %q, %v; want %q, %q, %v", tt.address, target, authority, ok, tt.target, tt.authority, tt.ok)
		}
	}
}

// What the fast path sends is what net/http sends: a query without a
// path asks for the root, a fragment stays home, a path net/http must
// escape goes through net/http, and a POST without a body says so.
func TestFastRequestLine(t *testing.T) {
	type seen struct{ uri, length string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- seen{r.RequestURI, r.Header.Get("Content-Length")}
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct{ yaml, uri, length string }{
		{"url: " + srv.URL + "?x=1", "/?x=1", ""},
		{"url: " + srv.URL + "/a#frag", "/a", ""},
		{"url: '" + srv.URL + "/a b'", "/a%20b", ""},
		{"url: " + srv.URL + "/p\nmethod: POST", "/p", "0"},
	} {
		p, addr := newFromYAML(t, tt.yaml)
		if r := probe(t, p, addr); !r.OK {
			t.Fatalf("%s: %+v", tt.yaml, r)
		}
		if s := <-got; s.uri != tt.uri || s.length != tt.length {
			t.Errorf("%s: server saw %q with Content-Length %q, want %q and %q", tt.yaml, s.uri, s.length, tt.uri, tt.length)
		}
	}
}

// gaugeValue reads a gauge family from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no family %s", name)
	return 0
}

// The http check's connections, in use and idle, stay within the
// open-files budget, so the descriptors the agent reserves for itself stay
// free (issue #22, item 4): a check that would open one more is
// inconclusive (open_files), never a failure of its target, and a
// connection done with is closed rather than kept idle past three quarters
// of the budget.
func TestConnectionsStayWithinTheOpenFilesBudget(t *testing.T) {
	const budget = 2
	release := make(chan struct{})
	var servers []string
	for range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
		t.Cleanup(srv.Close)
		servers = append(servers, srv.URL)
	}
	reg := prometheus.NewRegistry()
	limits, err := hostconns.New(hostconns.Config{Min: 1, Max: 8, Budget: budget}, reg)
	if err != nil {
		t.Fatal(err)
	}
	deps := kind.Deps{Registerer: reg, HostConns: limits}
	var probers []pulse.Prober
	var addrs []string
	for _, u := range servers {
		p, addr, err := Kind.New(spectest.Block(t, "url: "+u+"/health"), deps)
		if err != nil {
			t.Fatal(err)
		}
		probers, addrs = append(probers, p), append(addrs, addr)
	}
	results := make([]pulse.Result, 3)
	var wg sync.WaitGroup
	for i := range 2 { // two checks hold the budget's two connections
		wg.Go(func() {
			results[i], _, _ = pulse.Run(t.Context(), probers[i], pulse.Target{Monitor: "m", Address: addrs[i]}, 10*time.Second)
		})
	}
	waitUntil(t, "two connections open", func() bool { return gaugeValue(t, reg, "cpra_http_connections_open") == budget })
	results[2], _, _ = pulse.Run(t.Context(), probers[2], pulse.Target{Monitor: "m", Address: addrs[2]}, 10*time.Second)
	if r := results[2]; r.OK || r.Inconclusive != pulse.InconclusiveOpenFiles || r.Unreachable || r.HostDown {
		t.Errorf("a check past the open-files budget: %+v; want inconclusive %q", r, pulse.InconclusiveOpenFiles)
	}
	close(release)
	wg.Wait()
	for i, r := range results[:2] {
		if !r.OK {
			t.Errorf("check %d within the budget: %+v", i, r)
		}
	}
	if n := gaugeValue(t, reg, "cpra_http_connections_open"); n > budget*3/4 {
		t.Errorf("%v connections kept idle; want at most three quarters of the budget of %d, the rest closed", n, budget)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}
