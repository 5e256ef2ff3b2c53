package agent

import (
	"context"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// TestLookupWithAnEndingContext: once the owner has taken a function,
// onOwner waits for it, so Lookup never returns what the owner is still
// writing, even when the caller's context ends. Only the race detector can
// see the bug this guards against; make test runs with -race.
func TestLookupWithAnEndingContext(t *testing.T) {
	a, _, _ := testAgent(t, config.DefaultAgent(), "monitors:\n  - name: api\n    pulse_check: {type: http, interval: 1h, config: {url: \"http://127.0.0.1:1/\"}}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2000 {
		if v, ok, err := a.Lookup(ctx, "api"); err == nil && (!ok || v.Name != "api") {
			t.Fatalf("Lookup answered without error but without the monitor: %+v %v", v, ok)
		}
	}
}
