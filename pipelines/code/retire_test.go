package code

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cpra-agent/cpra-agent/pipelines/domain"
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
// the monitor's line: the new instance's green waits for the old one's red.
func TestOneDestinationOneLine(t *testing.T) {
	d, _ := newDispatcher(t, 16, fast)
	old := &recorder{dest: "alertmanager:x", failures: map[domain.Code]int{domain.Red: 5}}
	cur := &recorder{dest: "alertmanager:x"}
	d.Send(domain.Notification{Monitor: "a", Code: domain.Red}, []Notifier{old})
	d.Send(domain.Notification{Monitor: "a", Code: domain.Green}, []Notifier{cur})
	waitFor(t, "both codes", func() bool { return len(old.received()) == 1 && len(cur.received()) == 1 })
	if old.attempts() != 6 || cur.attempts() != 1 {
		t.Errorf("attempts old=%d new=%d, want the green tried once, after red's six", old.attempts(), cur.attempts())
	}
	d.Flush(context.Background())
	_ = d.Close(context.Background())
}

// A resend is tried once: it is not retried, and it is skipped while a
// code for the monitor is still on its way to that destination.
func TestResendIsNeverRetriedOrQueued(t *testing.T) {
	d, m := newDispatcher(t, 16, fast)
	r := &recorder{dest: "alertmanager:x", failures: map[domain.Code]int{domain.Red: 1}}
	resend := domain.Notification{Monitor: "a", Code: domain.Red, Resend: true}
	d.Send(resend, []Notifier{r})
	d.Flush(context.Background())
	if got := testutil.ToFloat64(m.CodeResends.WithLabelValues("alertmanager", "failure")); got != 1 || r.attempts() != 1 {
		t.Fatalf("a failed resend: %v failures counted, %d attempts; want 1 and 1", got, r.attempts())
	}
	if got := testutil.ToFloat64(m.Codes.WithLabelValues("red", "alertmanager", "retry")); got != 0 {
		t.Errorf("a resend counted as a code retry (%v)", got)
	}

	r.mu.Lock()
	r.failures[domain.Yellow] = 1_000_000 // yellow keeps its line busy
	r.mu.Unlock()
	d.Send(domain.Notification{Monitor: "a", Code: domain.Yellow}, []Notifier{r})
	d.Send(resend, []Notifier{r})
	waitFor(t, "the resend behind yellow to be skipped", func() bool {
		return testutil.ToFloat64(m.CodeResends.WithLabelValues("alertmanager", "skipped")) == 1
	})
	_ = d.Close(context.Background())
}
