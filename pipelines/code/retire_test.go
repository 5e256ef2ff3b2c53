package code

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
)

// A notifier a reload dropped is closed at once when nothing is queued
// for it, and otherwise only after its last delivery finished.
func TestRetireClosesAfterTheLastDelivery(t *testing.T) {
	d, _ := newDispatcher(t, 16, fast)
	idle := &recorder{}
	busy := &recorder{failures: map[domain.Code]int{domain.Red: 3}}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{busy})
	d.Send(domain.Notification{Monitor: "a", Code: domain.Green}, []Notifier{busy})
	d.Retire([]Notifier{idle, busy})
	waitFor(t, "the idle notifier to be closed", func() bool { return idle.closed() == 1 })
	waitFor(t, "the busy one to deliver and be closed", func() bool { return busy.closed() == 1 })
	if got := busy.received(); !slices.Equal(got, []string{"a:red", "a:green"}) {
		t.Errorf("the retired notifier delivered %v, want both codes before it closed", got)
	}
	d.Flush(context.Background())
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if idle.closed() != 1 || busy.closed() != 1 {
		t.Errorf("closed %d and %d times, want once each", idle.closed(), busy.closed())
	}
}

// Two instances for one destination (a reload changed a timeout) share
// the monitor's line: the new instance's green waits for the old one's red,
// retries and all.
func TestOneDestinationOneLine(t *testing.T) {
	d, _ := newDispatcher(t, 16, fast)
	var mu sync.Mutex
	var arrived []string // across both instances, in delivery order
	log := func(s string) { mu.Lock(); arrived = append(arrived, s); mu.Unlock() }
	old := &orderedRecorder{recorder: recorder{dest: "alertmanager:x", failures: map[domain.Code]int{domain.Red: 5}}, log: log}
	cur := &orderedRecorder{recorder: recorder{dest: "alertmanager:x"}, log: log}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{old})
	d.Send(domain.Notification{Monitor: "a", Code: domain.Green}, []Notifier{cur})
	waitFor(t, "both codes", func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) == 2 })
	if !slices.Equal(arrived, []string{"a:red", "a:green"}) {
		t.Errorf("delivered %v: the new instance's green overtook the old one's red", arrived)
	}
	d.Flush(context.Background())
	_ = d.Close(context.Background())
}

// orderedRecorder is a recorder that also logs each accepted code to a
// log shared with other recorders.
type orderedRecorder struct {
	recorder
	log func(string)
}

func (r *orderedRecorder) Notify(ctx context.Context, n domain.Notification) error {
	if err := r.recorder.Notify(ctx, n); err != nil {
		return err
	}
	r.log(n.Monitor + ":" + n.Code.String())
	return nil
}

// A resend is tried once: it is not retried, and it is skipped while a
// code for the monitor is still on its way to that destination.
func TestResendIsNeverRetriedOrQueued(t *testing.T) {
	d, m := newDispatcher(t, 16, fast)
	r := &recorder{dest: "alertmanager:x", failures: map[domain.Code]int{domain.Red: 1}}
	resend := domain.Notification{Monitor: "a", Code: domain.Red, Resend: true}
	d.Send(resend, []Notifier{r})
	d.Flush(context.Background())
	if got := testmetrics.Value(t, m.Registry, "cpra_code_resends_total", "notifier", "alertmanager", "result", "failure"); got != 1 || r.attempts() != 1 {
		t.Fatalf("a failed resend: %v failures counted, %d attempts; want 1 and 1", got, r.attempts())
	}
	if got := testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "alertmanager", "result", "retry"); got != 0 {
		t.Errorf("a resend counted as a code retry (%v)", got)
	}

	r.mu.Lock()
	r.failures[domain.Yellow] = 1_000_000 // yellow keeps its line busy
	r.mu.Unlock()
	d.Send(domain.Notification{Monitor: "a", Code: domain.Yellow}, []Notifier{r})
	d.Send(resend, []Notifier{r})
	waitFor(t, "the resend behind yellow to be skipped", func() bool {
		return testmetrics.Value(t, m.Registry, "cpra_code_resends_total", "notifier", "alertmanager", "result", "skipped") == 1
	})
	_ = d.Close(context.Background())
}
