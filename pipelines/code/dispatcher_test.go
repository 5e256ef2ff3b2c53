package code

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// recorder is a notifier that fails while failing() says so and records
// what it accepted, in order.
type recorder struct {
	mu       sync.Mutex
	got      []string
	failures map[domain.Code]int // fail this many attempts per code
	always   bool
	dest     string // default webhook:test
	calls    int
	closes   int
}

func (r *recorder) Notify(_ context.Context, n domain.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.always {
		return errors.New("receiver down")
	}
	if r.failures[n.Code] > 0 {
		r.failures[n.Code]--
		return errors.New("receiver busy")
	}
	r.got = append(r.got, n.Monitor+":"+n.Code.String())
	return nil
}
func (r *recorder) Destination() string {
	if r.dest != "" {
		return r.dest
	}
	return "webhook:test"
}
func (r *recorder) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.always = down
}
func (r *recorder) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}
func (r *recorder) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes++
	return nil
}
func (r *recorder) closed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closes
}
func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

var fast = RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAge: time.Minute, AttemptTimeout: time.Second}

// lenient never opens within a test, so retry behaviour is seen alone.
var lenient = breaker.Config{FailureThreshold: 1000, OpenTimeout: time.Minute, HalfOpenRequests: 1}

func newDispatcher(t *testing.T, capacity int, p RetryPolicy) (*Dispatcher, *telemetry.Metrics) {
	return newDispatcherWith(t, capacity, p, lenient)
}

func newDispatcherWith(t *testing.T, capacity int, p RetryPolicy, b breaker.Config, opts ...DispatcherOption) (*Dispatcher, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics()
	d, err := NewDispatcher(pipeline.Config{QueueCapacity: capacity, MaxWorkers: 4}, p, b, m.Registry, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, cond)
}

func TestOrderPerMonitorSurvivesRetries(t *testing.T) {
	d, m := newDispatcher(t, 16, fast)
	r := &recorder{failures: map[domain.Code]int{domain.Red: 3}}
	for _, c := range []domain.Code{domain.Yellow, domain.Red, domain.Green} {
		d.Send(domain.Notification{Monitor: "a", Code: c}, []Notifier{r})
	}
	d.Send(domain.Notification{Monitor: "b", Code: domain.Yellow}, []Notifier{r})
	waitFor(t, "four deliveries", func() bool { return len(r.received()) == 4 })
	var a []string
	for _, s := range r.received() {
		if s[0] == 'a' {
			a = append(a, s)
		}
	}
	if !slices.Equal(a, []string{"a:yellow", "a:red", "a:green"}) {
		t.Fatalf("monitor a received %v; order must be kept across retries", a)
	}
	if got := testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "retry"); got != 3 {
		t.Fatalf("red retries counted = %v, want 3", got)
	}
	if got := testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "success"); got != 1 {
		t.Fatalf("red successes = %v, want 1", got)
	}
	d.Flush(context.Background())
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNothingDroppedWhenQueueIsTiny(t *testing.T) {
	d, m := newDispatcher(t, 1, fast)
	r := &recorder{}
	const n = 300
	for i := range n {
		d.Send(domain.Notification{Monitor: string(rune('A' + i%50)), Code: domain.Code(1 + i%5)}, []Notifier{r})
	}
	d.Flush(context.Background())
	if got := len(r.received()); got != n {
		t.Fatalf("delivered %d of %d", got, n)
	}
	var ok float64
	for _, c := range domain.All {
		ok += testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", c.String(), "notifier", "webhook", "result", "success")
	}
	if ok != n {
		t.Fatalf("success counter %v, want %d", ok, n)
	}
	_ = d.Close(context.Background())
}

func TestUndeliverableIsCounted(t *testing.T) {
	p := fast
	p.MaxAge = 20 * time.Millisecond
	d, m := newDispatcher(t, 4, p)
	r := &recorder{always: true}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{r})
	waitFor(t, "give up", func() bool {
		return testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "undeliverable") == 1
	})
	if testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "retry") < 1 {
		t.Fatal("expected retries before giving up")
	}
	_ = d.Close(context.Background())
}

// Shutdown respects backoff: a code whose retry is an hour away is not
// hammered; Flush returns as soon as nothing more can be tried before its
// deadline, and Close hands the code back as undelivered.
func TestFlushKeepsBackoffAndHandsBackTheRest(t *testing.T) {
	slow := RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour, MaxAge: 24 * time.Hour, AttemptTimeout: time.Second}
	d, m := newDispatcher(t, 4, slow)
	r := &recorder{failures: map[domain.Code]int{domain.Red: 1}}
	ok := &recorder{dest: "webhook:ok"}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{r})
	waitFor(t, "first failure", func() bool {
		return testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "retry") == 1
	})
	d.Send(domain.Notification{Monitor: "b", Code: domain.Green}, []Notifier{ok})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.Flush(ctx)
	if ctx.Err() != nil {
		t.Fatal("Flush waited for its deadline though the only retry left is an hour away")
	}
	if got := ok.received(); !slices.Equal(got, []string{"b:green"}) {
		t.Errorf("the healthy receiver got %v, want its green", got)
	}
	if r.attempts() != 1 {
		t.Errorf("the failing receiver got %d attempts, want 1: its backoff holds at shutdown", r.attempts())
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	left := d.Undelivered()
	if len(left) != 1 || left[0].Notification.Monitor != "a" || left[0].To != r || left[0].Attempts != 1 {
		t.Fatalf("undelivered %+v, want a's red to the failing receiver after 1 attempt", left)
	}
}

func TestBreakerHoldsCodesForADeadReceiverAndReleasesThem(t *testing.T) {
	b := breaker.Config{FailureThreshold: 3, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	d, m := newDispatcherWith(t, 64, fast, b, WithClock(clk))
	down := &recorder{dest: "webhook:http://down.invalid", always: true}
	up := &recorder{dest: "webhook:http://up.invalid"}
	monitors := []string{"a", "b", "c", "d", "e"}
	for _, mon := range monitors {
		for _, c := range []domain.Code{domain.Yellow, domain.Red} {
			d.Send(domain.Notification{Monitor: mon, Code: c}, []Notifier{down, up})
		}
	}
	waitFor(t, "the healthy receiver gets everything", func() bool { return len(up.received()) == 10 })
	waitFor(t, "the breaker opens", func() bool { return d.breakers.State(down.dest) == breaker.Open })
	opened := func() float64 {
		return testmetrics.Value(t, m.Registry, "cpra_breaker_transitions_total", "pipeline", "code", "destination", down.dest, "to", "open")
	}
	rejected := func() float64 {
		return testmetrics.Value(t, m.Registry, "cpra_breaker_rejected_total", "pipeline", "code", "destination", down.dest)
	}
	// One delivery at a time in the pipeline (its share of 4 workers): the
	// first three heads failed, which opened the breaker; the other two
	// were held untried. No time passed, so no retry came due.
	waitFor(t, "the three first attempts", func() bool { return down.attempts() == 3 })

	// Their retries come due while the breaker is open: they are held, and
	// the dead receiver is not called.
	clk.Advance(b.OpenTimeout / 2)
	waitFor(t, "the retries held", func() bool { return rejected() >= 1 })
	if n := down.attempts(); n != 3 {
		t.Fatalf("the dead receiver got %d calls while its breaker was open, want the 3 that opened it", n)
	}
	// At the open timeout exactly one trial goes; it fails and the breaker
	// opens again, holding the rest.
	clk.Advance(b.OpenTimeout / 2)
	waitFor(t, "the trial fails and the breaker opens again", func() bool { return opened() == 2 })
	if n := down.attempts(); n != 4 {
		t.Fatalf("%d calls after one open timeout, want the 3 and one trial", n)
	}
	if n := testutil.CollectAndCount(m.Registry, "cpra_breaker_state"); n != 1 {
		t.Fatalf("%d cpra_breaker_state series, want 1 (only the failing destination)", n)
	}

	down.setDown(false)
	clk.Advance(b.OpenTimeout)
	waitFor(t, "the held codes arrive once the receiver is back", func() bool {
		clk.Advance(fast.MaxBackoff) // a code whose trial failed waits out its backoff
		return len(down.received()) == 10
	})
	down.setDown(false)
	waitFor(t, "the held codes arrive once the receiver is back", func() bool { return len(down.received()) == 10 })
	waitFor(t, "the breaker closes", func() bool { return d.breakers.State(down.dest) == breaker.Closed })
	got := down.received()
	for _, mon := range monitors { // per monitor, still in order
		i, j := slices.Index(got, mon+":yellow"), slices.Index(got, mon+":red")
		if i < 0 || j < 0 || i > j {
			t.Fatalf("order lost for %s: %v", mon, got)
		}
	}
	if got := testmetrics.Value(t, m.Registry, "cpra_breaker_transitions_total", "pipeline", "code", "destination", down.dest, "to", "closed"); got != 1 {
		t.Fatalf("transitions to closed = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.Registry, "cpra_breaker_state"); n != 0 {
		t.Fatalf("%d cpra_breaker_state series after recovery, want 0", n)
	}
	if got := testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "undeliverable"); got != 0 {
		t.Fatalf("%v codes given up; held codes must wait for the receiver", got)
	}
	d.Flush(context.Background())
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Shutdown respects breakers: codes held behind an open breaker are not
// tried at shutdown; they are handed back.
func TestFlushRespectsOpenBreakers(t *testing.T) {
	b := breaker.Config{FailureThreshold: 1, OpenTimeout: time.Hour, HalfOpenRequests: 1}
	d, _ := newDispatcherWith(t, 64, fast, b)
	r := &recorder{always: true}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Yellow}, []Notifier{r})
	waitFor(t, "the breaker opens on the first failure", func() bool { return d.breakers.State(r.Destination()) == breaker.Open })
	d.Send(domain.Notification{Monitor: "b", Code: domain.Red}, []Notifier{r})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.Flush(ctx)
	if ctx.Err() != nil {
		t.Fatal("Flush waited for its deadline behind a breaker open for an hour")
	}
	if got := r.attempts(); got != 1 {
		t.Errorf("%d attempts at a receiver whose breaker is open, want the 1 that opened it", got)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(d.Undelivered()); got != 2 {
		t.Fatalf("%d undelivered, want both codes", got)
	}
}

// hung is a receiver that accepts and never answers: each call waits for
// its context.
type hung struct {
	mu            sync.Mutex
	running, most int
	calls         int
}

func (h *hung) Notify(ctx context.Context, _ domain.Notification) error {
	h.mu.Lock()
	h.calls++
	h.running++
	h.most = max(h.most, h.running)
	h.mu.Unlock()
	<-ctx.Done()
	h.mu.Lock()
	h.running--
	h.mu.Unlock()
	return ctx.Err()
}
func (h *hung) Destination() string         { return "webhook:hung" }
func (h *hung) Close(context.Context) error { return nil }
func (h *hung) stats() (calls, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, h.most
}

// Bulkheads (issue #22, item 1): a receiver that never answers holds at
// most its destination's share of the workers; every code to a healthy
// receiver gets through meanwhile. At shutdown the healthy receiver is
// drained, Flush stops waiting once the hung one has stalled, and Close
// cancels its attempts at once and hands its codes back.
func TestHungReceiverDelaysOnlyItsOwnCodes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	m := telemetry.NewMetrics()
	policy := RetryPolicy{InitialBackoff: time.Second, MaxBackoff: time.Minute, MaxAge: time.Hour, AttemptTimeout: time.Hour}
	d, err := NewDispatcher(pipeline.Config{QueueCapacity: 64, MaxWorkers: 8}, policy, lenient, m.Registry,
		slog.New(slog.NewTextHandler(io.Discard, nil)), WithClock(clk), WithDestinationLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	stuck := &hung{}
	ok := &recorder{dest: "alertmanager:ok"}
	const n = 200
	for i := range n {
		d.Send(domain.Notification{Monitor: fmt.Sprint(i), Code: domain.Red}, []Notifier{stuck, ok})
	}
	waitFor(t, "every code to the healthy receiver", func() bool { return len(ok.received()) == n })
	calls, most := stuck.stats()
	if most > 2 || calls > 2 {
		t.Fatalf("the hung receiver got %d calls, %d at once; want at most its share of 2", calls, most)
	}
	// The backlog is visible: its share in flight, the rest waiting for
	// its turn.
	pending := func(state string) float64 {
		return testmetrics.Value(t, m.Registry, "cpra_codes_pending", "state", state)
	}
	waitFor(t, "cpra_codes_pending to show the hung receiver's backlog", func() bool {
		return pending("in_flight") == 2 && pending("ready") == n-2 && pending("retrying") == 0 && pending("held") == 0 && pending("behind") == 0
	})

	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d.Flush(ctx)
	}()
	waitFor(t, "Flush to give up on the stalled receiver", func() bool {
		clk.Advance(time.Second)
		select {
		case <-flushed:
			return true
		default:
			return false
		}
	})
	closed := make(chan error, 1)
	go func() { closed <- d.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited on the hung receiver's attempts")
	}
	if left := d.Undelivered(); len(left) != n {
		t.Fatalf("%d codes handed back, want the hung receiver's %d", len(left), n)
	}
	for _, u := range d.Undelivered() {
		if u.To != Notifier(stuck) {
			t.Fatalf("handed back a code for %s, want only the hung receiver's", u.To.Destination())
		}
	}
}
