package main

// End-to-end tests of the engine (issue #3): worker sizing under a slow
// target, a circuit breaker in front of a dead webhook receiver, and
// backpressure behind a tiny queue. They are not parallel: each loads the
// machine on purpose, and the other tests' timing should not suffer.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowServer answers every request after delay and counts hits per path.
type slowServer struct {
	url  string
	mu   sync.Mutex
	hits map[string]int
}

func newSlowServer(t *testing.T, delay time.Duration) *slowServer {
	s := &slowServer{hits: map[string]int{}}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		time.Sleep(delay)
		fmt.Fprintln(w, "ok")
	})
	s.url = srv.URL
	return s
}

// paths returns how many distinct paths were hit at least n times.
func (s *slowServer) paths(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for _, h := range s.hits {
		if h >= n {
			k++
		}
	}
	return k
}

// plainMonitor is an HTTP monitor without codes.
func plainMonitor(name, url, interval, timeout string) string {
	return fmt.Sprintf(`  - name: %s
    pulse_check:
      type: http
      interval: %s
      timeout: %s
      config: {url: %q}
`, name, interval, timeout, url)
}

// TestPoolGrowsToTheComputedSize runs 1000 monitors checked every second
// against targets that answer in 200 ms: 200 Erlangs of offered load, so
// the pool must grow from 8 workers to a few hundred. It then checks that
// the monitors keep their schedule.
func TestPoolGrowsToTheComputedSize(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a thousand checks a second")
	}
	dir := t.TempDir()
	var targets []*slowServer
	for range 4 { // several servers, so connections spread over ports
		targets = append(targets, newSlowServer(t, 200*time.Millisecond))
	}
	const n = 1000
	var ms []string
	for i := range n {
		ms = append(ms, plainMonitor(fmt.Sprintf("m%04d", i), fmt.Sprintf("%s/m/%d", targets[i%4].url, i), "1s", "1s"))
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, 0o644, `
pipelines:
  pulse:
    workers: {min: 8, max: 2000}
    sizing:  {slo: 100ms, quantile: 0.95, headroom: 0.15, interval: 1s}
`)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg, "--log.level=debug")

	a.waitMetrics(t, "the pulse pool to grow to the recommended size", func(m metrics) []string {
		rec, _ := m.value("cpra_sizing_recommended_workers", "pipeline", "pulse")
		miss := m.expect(nil, "cpra_pool_workers", "==", rec, "pipeline", "pulse")
		return m.expect(miss, "cpra_pool_workers", ">=", 200, "pipeline", "pulse")
	})
	m := a.scrape(t)
	workers, _ := m.value("cpra_pool_workers", "pipeline", "pulse")
	lambda, _ := m.value("cpra_sizing_arrival_rate", "pipeline", "pulse")
	service, _ := m.value("cpra_sizing_service_time_seconds", "pipeline", "pulse")
	t.Logf("pool: %v workers for λ=%.0f/s × E[S]=%.3fs = %.0f Erlangs", workers, lambda, service, lambda*service)
	if offered := lambda * service; !(workers > offered) || offered < 150 {
		t.Errorf("pool of %v workers for an estimated %v Erlangs (λ=%v/s, E[S]=%vs); want hundreds of Erlangs and more workers than that",
			workers, offered, lambda, service)
	}
	decisions := a.logEntries("sizing decision")
	if len(decisions) == 0 {
		t.Fatal("no debug log line for the sizing decisions")
	}
	for _, d := range decisions {
		if d["pipeline"] == "pulse" && d["direction"] == "up" {
			t.Logf("a decision that grew the pool: %v", d)
			break
		}
	}

	// Once sized, the checks keep their schedule: five more rounds of every
	// monitor, most started within an interval of their due time. Nothing
	// here times the machine (it is shared): the wait only gives up when
	// the checks stop.
	t0, before := time.Now(), a.scrape(t)
	var after metrics
	var checks float64
	waitFor(t, "five more rounds of checks", func() (bool, string) {
		after = a.scrape(t)
		checks = delta(before, after, "cpra_checks_total", "type", "http")
		return checks >= 5*n, fmt.Sprintf("%v checks", checks)
	})
	elapsed := time.Since(t0).Seconds()
	onTime := bucketDelta(before, after, "cpra_schedule_lag_seconds", 1)
	started := delta(before, after, "cpra_schedule_lag_seconds")
	// Most, not a tight share: the race-built agent runs a thousand checks
	// a second on a shared machine, where a stolen second delays a round
	// (86 % was seen once, 97 % is usual); a pool left at its floor starts
	// almost none on time.
	if started == 0 || onTime/started < 0.75 {
		t.Errorf("%v of %v checks started within one interval of their due time; want 75%%", onTime, started)
	}
	t.Logf("%v checks in %.1fs; %v of %v started within a second of their due time", checks, elapsed, onTime, started)
	all := a.logEntries("sizing decision")
	for i := len(all) - 1; i >= 0; i-- {
		if d := all[i]; d["pipeline"] == "pulse" {
			t.Logf("last pulse decision: %v workers, L = %v, λW = %v", d["target"], d["littles_l"], d["littles_lambda_w"])
			break
		}
	}
	for _, s := range targets {
		if got := s.paths(2); got != n/4 {
			t.Errorf("target %s: %d of its %d monitors checked twice or more", s.url, got, n/4)
		}
	}
	if dropped, _ := after.value("cpra_queue_dropped_total", "pipeline", "pulse"); dropped != 0 {
		t.Errorf("%v pulse jobs dropped", dropped)
	}
}

// receiver is a webhook receiver the test can take down (503) and bring
// back; it records the codes it accepted, in order.
type receiver struct {
	url   string
	calls atomic.Int64
	down  atomic.Bool
	mu    sync.Mutex
	got   []string // monitor:code
}

func newReceiver(t *testing.T, down bool) *receiver {
	r := &receiver{}
	r.down.Store(down)
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		if r.down.Load() {
			http.Error(w, "receiver down", http.StatusServiceUnavailable)
			return
		}
		var p struct{ Monitor, Code string }
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, p.Monitor+":"+p.Code)
		r.mu.Unlock()
	})
	r.url = srv.URL + "/hook"
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestBreakerHoldsCodesForADeadReceiver sends yellow to a receiver that is
// down and red to one that is up. The dead receiver's breaker opens, red
// keeps flowing, and the held yellows arrive once the receiver is back.
func TestBreakerHoldsCodesForADeadReceiver(t *testing.T) {
	dir := t.TempDir()
	svc := newService(t, true)
	dead, alive := newReceiver(t, true), newReceiver(t, false)
	const n = 6
	var ms []string
	for i := range n {
		ms = append(ms, fmt.Sprintf(`  - name: svc%d
    pulse_check:
      type: http
      interval: 500ms
      timeout: 500ms
      max_failures: 1
      config: {url: %q}
    codes:
      yellow: {notify: webhook, config: {url: %q, timeout: 5s}}
      red:    {notify: webhook, config: {url: %q, timeout: 5s}}
`, i, svc.healthURL(), dead.url, alive.url))
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, 0o644, `
codes: {initial_backoff: 20ms, max_backoff: 100ms}
pipelines:
  code:
    breaker: {failure_threshold: 3, open_timeout: 1s, half_open_requests: 1}
`)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg)
	deadDest := "webhook:" + dead.url

	waitFor(t, "red at the live receiver for every monitor", func() (bool, string) {
		got := alive.received()
		return len(got) == n, fmt.Sprint(got)
	})
	a.waitMetrics(t, "the dead receiver's breaker to open", func(m metrics) []string {
		miss := m.expect(nil, "cpra_breaker_state", "==", 2, "pipeline", "code", "destination", deadDest)
		miss = m.expect(miss, "cpra_breaker_transitions_total", ">=", 1, "pipeline", "code", "destination", deadDest, "to", "open")
		return m.expect(miss, "cpra_breaker_rejected_total", ">", 0, "pipeline", "code", "destination", deadDest)
	})
	// While open, the dead receiver sees one trial per half-open, not the
	// retries of six codes every 100ms: over two more trials, it gets two
	// calls (one of slack for a trial in flight at either end).
	halfOpen := func(m metrics) float64 {
		v, _ := m.value("cpra_breaker_transitions_total", "pipeline", "code", "destination", deadDest, "to", "half_open")
		return v
	}
	trialsBefore, callsBefore := halfOpen(a.scrape(t)), dead.calls.Load()
	var trials float64
	waitFor(t, "two more half-open trials at the dead receiver", func() (bool, string) {
		trials = halfOpen(a.scrape(t)) - trialsBefore
		return trials >= 2, fmt.Sprintf("%v trials", trials)
	})
	if extra := dead.calls.Load() - callsBefore; float64(extra) > trials+1 {
		t.Errorf("the dead receiver got %d calls over %v half-open trials with its breaker open", extra, trials)
	}
	if m := a.scrape(t); len(alive.received()) != n {
		t.Errorf("the live receiver got %v", alive.received())
	} else if _, found := m.value("cpra_breaker_state", "pipeline", "code", "destination", "webhook:"+alive.url); found {
		t.Error("the live receiver has a breaker state series; only failing destinations should")
	}

	dead.down.Store(false)
	waitFor(t, "the held yellows to arrive", func() (bool, string) {
		got := dead.received()
		return len(got) == n, fmt.Sprint(got)
	})
	for _, c := range dead.received() {
		if !strings.HasSuffix(c, ":yellow") {
			t.Errorf("the recovered receiver got %s; want the held yellows", c)
		}
	}
	a.waitMetrics(t, "the breaker to close", func(m metrics) []string {
		miss := m.expect(nil, "cpra_breaker_transitions_total", "==", 1, "pipeline", "code", "destination", deadDest, "to", "closed")
		return m.expect(miss, "cpra_breaker_state", "==", 0, "pipeline", "code", "destination", deadDest)
	})
	m := a.scrape(t)
	if got, _ := m.value("cpra_codes_dispatched_total", "result", "undeliverable"); got != 0 {
		t.Errorf("%v codes undeliverable; held codes must be delivered", got)
	}

	// Recovery: green goes to both receivers (green has no entry, so it
	// follows yellow's and red's notifiers).
	svc.set(false)
	waitFor(t, "green at both receivers", func() (bool, string) {
		count := func(got []string) int {
			return len(slices.DeleteFunc(got, func(c string) bool { return !strings.HasSuffix(c, ":green") }))
		}
		d, l := count(dead.received()), count(alive.received())
		return d == n && l == n, fmt.Sprintf("greens: %d at the recovered receiver, %d at the live one", d, l)
	})
}

// TestBackpressureDefersAndDropsNothing gives the pulse pipeline a queue
// of four and two workers, then asks for five Erlangs of checks. The queue
// hits its high water mark, monitors are deferred (they stay due and run
// late), and every monitor is still checked, again and again.
func TestBackpressureDefersAndDropsNothing(t *testing.T) {
	dir := t.TempDir()
	target := newSlowServer(t, 50*time.Millisecond)
	const n = 100
	var ms []string
	for i := range n {
		ms = append(ms, plainMonitor(fmt.Sprintf("m%03d", i), fmt.Sprintf("%s/m/%d", target.url, i), "1s", "1s"))
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, 0o644, `
pipelines:
  pulse:
    queue:   {capacity: 4, high_water: 0.5, low_water: 0.25}
    workers: {min: 1, max: 2}
`)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg)

	waitFor(t, "every monitor to be checked at least three times", func() (bool, string) {
		got := target.paths(3)
		return got == n, fmt.Sprintf("%d of %d monitors", got, n)
	})
	a.waitMetrics(t, "deferrals behind the water marks", func(m metrics) []string {
		miss := m.expect(nil, "cpra_backpressure_deferred_total", ">=", n, "pipeline", "pulse")
		miss = m.expect(miss, "cpra_backpressure_high_water_mark", "==", 2, "pipeline", "pulse")
		miss = m.expect(miss, "cpra_backpressure_low_water_mark", "==", 1, "pipeline", "pulse")
		miss = m.expect(miss, "cpra_pool_workers", "==", 2, "pipeline", "pulse")
		miss = m.expect(miss, "cpra_queue_dropped_total", "==", 0, "pipeline", "pulse")
		// Deferred checks run late, but they run: no monitor fails for it.
		return m.expect(miss, "cpra_monitors", "==", n, "state", "healthy")
	})
	m := a.scrape(t)
	late := m["cpra_schedule_lag_seconds"]
	if late == nil || bucketCount(m, "cpra_schedule_lag_seconds", 1) == float64(late.GetMetric()[0].GetHistogram().GetSampleCount()) {
		t.Error("no check started more than a second after its due time, though the queue was full")
	}
	waitFor(t, "backpressure to be seen engaged", func() (bool, string) {
		m := a.scrape(t)
		v, _ := m.value("cpra_backpressure_active", "pipeline", "pulse")
		return v == 1, fmt.Sprintf("cpra_backpressure_active = %v", v)
	})
}

// delta is the increase of a counter (or a histogram's count) between two
// scrapes.
func delta(before, after metrics, name string, labels ...string) float64 {
	b, _ := before.value(name, labels...)
	a, _ := after.value(name, labels...)
	return a - b
}

// bucketCount is the cumulative count of a histogram's bucket with upper
// bound le, summed over its series.
func bucketCount(m metrics, name string, le float64) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, s := range f.GetMetric() {
		for _, b := range s.GetHistogram().GetBucket() {
			if b.GetUpperBound() == le {
				sum += float64(b.GetCumulativeCount())
			}
		}
	}
	return sum
}

func bucketDelta(before, after metrics, name string, le float64) float64 {
	return bucketCount(after, name, le) - bucketCount(before, name, le)
}

// TestHostBreakerSkipsADeadHost points twenty TCP monitors at closed ports
// of 127.0.0.2 (a dead host) and one at a live service on 127.0.0.1. The
// dead host's breaker opens, its monitors fail without being checked (the
// reason says so), the live monitor is unaffected, and when the host comes
// back one trial check closes the breaker and the monitors recover. Three
// of the dead monitors have a failing remedy behind one webhook: its
// breaker opens too, and the remedy after that is not attempted.
// TestClosedPortSaysNothingAboutTheHost is the small-scale false alarm of
// issue #9: monitors on refused ports of a host fail for themselves, and
// healthy monitors on other ports of the same host stay healthy; the host's
// breaker never opens. Their failing interventions still open the remedy's
// own breaker.
func TestClosedPortSaysNothingAboutTheHost(t *testing.T) {
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	var remedyCalls atomic.Int64
	remedy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		remedyCalls.Add(1)
		http.Error(w, "cannot restart", http.StatusInternalServerError)
	})
	liveHTTP := listenOn(t, "127.0.0.2:0")
	go http.Serve(liveHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	liveTCP := listenOn(t, "127.0.0.2:0")
	go acceptAndClose(liveTCP)
	const dead = 12
	var ms []string
	for i := range dead {
		l := listenOn(t, "127.0.0.2:0")
		addr := l.Addr().String()
		l.Close() // connection refused: the port is closed, the host answers
		blocks := []string{logCodes(codesFile)}
		if i < 3 {
			blocks = append([]string{fmt.Sprintf(`    intervention:
      type: webhook
      max_per_window: 5
      window: 1h
      config: {url: %q, timeout: 5s}
`, remedy.URL+"/restart")}, blocks...)
		}
		ms = append(ms, tcpMonitor(fmt.Sprintf("closed%02d", i), addr, blocks...))
	}
	ms = append(ms,
		httpMonitor("live-http", "http://"+liveHTTP.Addr().String()+"/health", 2, logCodes(codesFile)),
		tcpMonitor("live-tcp", liveTCP.Addr().String(), logCodes(codesFile)))
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, 0o644, `
pipelines:
  pulse:
    breaker: {failure_threshold: 2, failure_ratio: 0.5, window: 10s, open_timeout: 1s, half_open_requests: 1}
  intervention:
    breaker: {failure_threshold: 2, open_timeout: 1h, half_open_requests: 1}
`)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg)

	remedyDest := "webhook:" + remedy.URL + "/restart"
	a.waitMetrics(t, "the closed ports down, the live monitors healthy, the remedy breaker refusing", func(m metrics) []string {
		miss := m.expect(nil, "cpra_monitors", "==", dead, "state", "down")
		miss = m.expect(miss, "cpra_monitors", "==", 2, "state", "healthy")
		miss = m.expect(miss, "cpra_breaker_state", "==", 2, "pipeline", "intervention", "destination", remedyDest)
		return m.expect(miss, "cpra_breaker_rejected_total", ">=", 1, "pipeline", "intervention", "destination", remedyDest)
	})
	// Many more checks of the host, all answered (refused or served): two
	// more rounds of every monitor, counted, not timed.
	checked := func(m metrics) float64 {
		v, _ := m.value("cpra_checks_total", "type", "tcp")
		return v
	}
	roundsFrom := checked(a.scrape(t))
	var m metrics
	waitFor(t, "two more rounds of checks of the host", func() (bool, string) {
		m = a.scrape(t)
		return checked(m)-roundsFrom >= 2*float64(dead+1), fmt.Sprintf("%v tcp checks", checked(m)-roundsFrom)
	})
	if v, _ := m.value("cpra_breaker_transitions_total", "pipeline", "pulse", "destination", "127.0.0.2", "to", "open"); v != 0 {
		t.Errorf("the host breaker opened %v times for closed ports", v)
	}
	if miss := m.expect(nil, "cpra_monitors", "==", 2, "state", "healthy"); len(miss) > 0 {
		t.Errorf("live monitors on the host's other ports: %v", miss)
	}
	for _, name := range []string{"live-http", "live-tcp"} {
		if lines := readCodes(t, codesFile, name); len(lines) > 0 {
			t.Errorf("%s sent codes although it was healthy: %+v", name, lines)
		}
	}
	if n := remedyCalls.Load(); n != 2 {
		t.Errorf("the remedy webhook was called %d times; its breaker should have stopped it at 2", n)
	}
	waitFor(t, "a red code saying the remedy was not attempted", func() (bool, string) {
		for i := range 3 {
			for _, l := range readCodes(t, codesFile, fmt.Sprintf("closed%02d", i)) {
				if l.Code == "red" && strings.Contains(l.Message, "not attempted: circuit breaker open for "+remedyDest) {
					return true, ""
				}
			}
		}
		return false, "none yet"
	})
}

// TestHostBreakerOpensOnADeadHost: a host whose connects get no answer at
// all (listeners whose accept queue is full drop every SYN) opens its
// breaker once most of its own checks failed; then its monitors are not
// checked and keep their state, one host-level red names the host and its
// monitors, and when it answers again a trial closes the breaker, a green
// resolves the host code and the monitors recover.
func TestHostBreakerOpensOnADeadHost(t *testing.T) {
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	live := newService(t, false)
	// The dead host's monitors are due over 4 s while each check times
	// out after the usual 500 ms, so the breaker has its evidence (ten
	// checks) while many of them have not been checked at all: those must
	// then never fail on their own. (At the usual 500 ms interval every
	// monitor would have a check in flight before the first one failed.)
	const dead = 40
	var holes []*blackhole
	ms := []string{httpMonitor("live", live.healthURL(), 2, logCodes(codesFile))}
	for i := range dead {
		h := newBlackhole(t, "127.0.0.3")
		holes = append(holes, h)
		m := tcpMonitor(fmt.Sprintf("dead%02d", i), h.addr, logCodes(codesFile))
		ms = append(ms, strings.Replace(m, "interval: "+checkInterval, "interval: 4s", 1))
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := quickBreakerConfig(t, dir)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg)

	a.waitMetrics(t, "the dead host's breaker to open and refuse checks", func(m metrics) []string {
		miss := m.expect(nil, "cpra_breaker_transitions_total", ">=", 1, "pipeline", "pulse", "destination", "127.0.0.3", "to", "open")
		miss = m.expect(miss, "cpra_breaker_rejected_total", ">", 0, "pipeline", "pulse", "destination", "127.0.0.3")
		return m.expect(miss, "cpra_monitors", "==", 1, "state", "healthy")
	})
	waitFor(t, "one host-level red naming the host and its monitors", func() (bool, string) {
		lines := readCodes(t, codesFile, "host:127.0.0.3")
		if len(lines) == 0 {
			return false, "none yet"
		}
		l := lines[0]
		if l.Code != "red" || !strings.Contains(l.Message, "host 127.0.0.3 unreachable") || !strings.Contains(l.Message, fmt.Sprintf("its %d monitors", dead)) {
			t.Fatalf("host code: %+v", l)
		}
		return true, ""
	})
	// Not one code per monitor: only the checks that gathered the
	// evidence before the breaker opened failed on their own.
	yellows := 0
	for i := range dead {
		for _, l := range readCodes(t, codesFile, fmt.Sprintf("dead%02d", i)) {
			if l.Code == "yellow" {
				yellows++
			}
		}
	}
	if yellows >= dead {
		t.Errorf("%d yellow codes for %d monitors behind one dead host", yellows, dead)
	}

	// The host answers again: a trial check succeeds, the breaker closes,
	// the host code is resolved and every monitor recovers.
	for _, h := range holes {
		h.serve()
	}
	a.waitMetrics(t, "the host's breaker to close and every monitor to recover", func(m metrics) []string {
		miss := m.expect(nil, "cpra_breaker_transitions_total", ">=", 1, "pipeline", "pulse", "destination", "127.0.0.3", "to", "closed")
		return m.expect(miss, "cpra_monitors", "==", dead+1, "state", "healthy")
	})
	waitFor(t, "a green host code", func() (bool, string) {
		for _, l := range readCodes(t, codesFile, "host:127.0.0.3") {
			if l.Code == "green" {
				return true, ""
			}
		}
		return false, "none yet"
	})
	if reds := len(readCodes(t, codesFile, "host:127.0.0.3")); reds > 2 {
		// One red and one green; a flapping breaker would send more.
		t.Logf("host codes: %+v", readCodes(t, codesFile, "host:127.0.0.3"))
	}
}

func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// A host outage is one code (issue #22, item 6): with every monitor of a
// dead host checked every 500 ms, each has a check in flight when the
// host's breaker opens, and the breaker's half-open trials keep failing.
// Neither gives a monitor a code of its own: only the checks that gathered
// the breaker's evidence (ten) fail on their own; the rest fold into the
// host's one red.
func TestHostOutageIsOneCode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	codesFile := filepath.Join(dir, "codes.log")
	const dead = 40
	var ms []string
	for i := range dead {
		h := newBlackhole(t, "127.0.0.4")
		ms = append(ms, tcpMonitor(fmt.Sprintf("dead%02d", i), h.addr, logCodes(codesFile)))
	}
	monitors := filepath.Join(dir, "monitors.yaml")
	writeMonitors(t, monitors, ms...)
	cfg := quickBreakerConfig(t, dir)
	a := startAgent(t, "--yaml="+monitors, "--config="+cfg)
	a.waitMetrics(t, "the host's breaker to open, and three failed trials to open it again", func(m metrics) []string {
		miss := m.expect(nil, "cpra_breaker_transitions_total", ">=", 4, "pipeline", "pulse", "destination", "127.0.0.4", "to", "open")
		return m.expect(miss, "cpra_checks_inconclusive_total", ">", 0, "type", "tcp", "reason", "host_down")
	})
	own := 0
	for i := range dead {
		own += len(readCodes(t, codesFile, fmt.Sprintf("dead%02d", i)))
	}
	if own > 10 {
		t.Errorf("%d codes of monitors behind one dead host; want at most the 10 checks that opened its breaker", own)
	}
	if reds := readCodes(t, codesFile, "host:127.0.0.4"); len(reds) != 1 || reds[0].Code != "red" {
		t.Errorf("host codes %+v, want its one red", reds)
	}
}

// quickBreakerConfig writes an agent configuration whose host breakers
// try a dead host again after a second, and returns its path.
func quickBreakerConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, 0o644, `
pipelines:
  pulse:
    breaker: {failure_threshold: 5, failure_ratio: 0.8, window: 30s, open_timeout: 1s, half_open_requests: 1}
`)
	return cfg
}
