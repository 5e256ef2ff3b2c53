package code

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
)

type sleepy struct{}

func (sleepy) Notify(ctx context.Context, n domain.Notification) error {
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}
func (sleepy) Destination() string         { return "webhook:sleepy" }
func (sleepy) Close(context.Context) error { return nil }

// Close while workers still start queued deliveries: Close must not read a
// delivery a worker is writing (the race detector watches).
// Every code is accounted for: delivered, or handed back as undelivered.
func TestCloseWhileWorkersRun(t *testing.T) {
	d, m := newDispatcher(t, 4096, fast)
	const n = 2000
	for i := range n {
		d.Send(domain.Notification{Monitor: fmt.Sprint(i), Code: domain.Red}, []Notifier{sleepy{}})
	}
	waitFor(t, "the first deliveries", func() bool {
		return testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "success") > 0
	})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	delivered := testmetrics.Value(t, m.Registry, "cpra_codes_dispatched_total", "code", "red", "notifier", "webhook", "result", "success")
	if left := len(d.Undelivered()); int(delivered)+left != n {
		t.Fatalf("%v delivered and %d handed back of %d codes", delivered, left, n)
	}
}
