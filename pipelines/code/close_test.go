package code

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/pipelines/domain"
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
func TestCloseWhileWorkersRun(t *testing.T) {
	d, _ := newDispatcher(t, 4096, fast)
	for i := 0; i < 2000; i++ {
		d.Send(domain.Notification{Monitor: fmt.Sprint(i), Code: domain.Red}, []Notifier{sleepy{}})
	}
	time.Sleep(5 * time.Millisecond)
	d.Close(context.Background())
}
