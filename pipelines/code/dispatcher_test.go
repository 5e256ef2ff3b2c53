package code

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// recorder is a notifier that fails while failing() says so and records
// what it accepted, in order.
type recorder struct {
	mu       sync.Mutex
	got      []string
	failures map[Code]int // fail this many attempts per code
	always   bool
}

func (r *recorder) Notify(_ context.Context, n Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
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
func (r *recorder) Destination() string         { return "webhook:test" }
func (r *recorder) Close(context.Context) error { return nil }
func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

var fast = RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAge: time.Minute, AttemptTimeout: time.Second}

func newDispatcher(t *testing.T, capacity int, p RetryPolicy) (*Dispatcher, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics()
	d, err := NewDispatcher(pipeline.Config{QueueCapacity: capacity, Workers: 4}, p, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOrderPerMonitorSurvivesRetries(t *testing.T) {
	d, m := newDispatcher(t, 16, fast)
	r := &recorder{failures: map[Code]int{Red: 3}}
	for _, c := range []Code{Yellow, Red, Green} {
		d.Send(Notification{Monitor: "a", Code: c}, []Notifier{r})
	}
	d.Send(Notification{Monitor: "b", Code: Yellow}, []Notifier{r})
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
	if got := testutil.ToFloat64(m.Codes.WithLabelValues("red", "webhook", "retry")); got != 3 {
		t.Fatalf("red retries counted = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.Codes.WithLabelValues("red", "webhook", "success")); got != 1 {
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
		d.Send(Notification{Monitor: string(rune('A' + i%50)), Code: Code(1 + i%5)}, []Notifier{r})
	}
	d.Flush(context.Background())
	if got := len(r.received()); got != n {
		t.Fatalf("delivered %d of %d", got, n)
	}
	var ok float64
	for _, c := range All {
		ok += testutil.ToFloat64(m.Codes.WithLabelValues(c.String(), "webhook", "success"))
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
	d.Send(Notification{Monitor: "a", Code: Red}, []Notifier{r})
	waitFor(t, "give up", func() bool {
		return testutil.ToFloat64(m.Codes.WithLabelValues("red", "webhook", "undeliverable")) == 1
	})
	if testutil.ToFloat64(m.Codes.WithLabelValues("red", "webhook", "retry")) < 1 {
		t.Fatal("expected retries before giving up")
	}
	_ = d.Close(context.Background())
}

func TestFlushSkipsBackoffAndCloseCountsTheRest(t *testing.T) {
	slow := RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour, MaxAge: 24 * time.Hour, AttemptTimeout: time.Second}
	d, m := newDispatcher(t, 4, slow)
	r := &recorder{failures: map[Code]int{Red: 1}}
	d.Send(Notification{Monitor: "a", Code: Red}, []Notifier{r})
	waitFor(t, "first failure", func() bool {
		return testutil.ToFloat64(m.Codes.WithLabelValues("red", "webhook", "retry")) == 1
	})
	// The retry is an hour away; Flush must deliver it now.
	d.Flush(context.Background())
	if got := r.received(); !slices.Equal(got, []string{"a:red"}) {
		t.Fatalf("after flush received %v", got)
	}

	dead := &recorder{always: true}
	d.Send(Notification{Monitor: "b", Code: Yellow}, []Notifier{dead})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	d.Flush(ctx)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Codes.WithLabelValues("yellow", "webhook", "undeliverable")); got != 1 {
		t.Fatalf("undeliverable at shutdown = %v, want 1", got)
	}
}
