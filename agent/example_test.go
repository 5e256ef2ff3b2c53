package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/example"
)

// TestEmbeddedExample: the file `make run` uses parses and validates, and
// the demo service it watches answers on loopback, healthy at first.
func TestEmbeddedExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	demo, err := example.Start(ctx, example.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	defer demo.Close()
	ms, err := config.ParseMonitors("embedded-example.yaml", example.Monitors(demo.Addr), testKinds(t, io.Discard), nil)
	if err != nil {
		t.Fatalf("the embedded example does not load: %v", err)
	}
	defer ms.Instances.CloseUnused(ctx, nil)
	if len(ms.Monitors) < 2 {
		t.Fatalf("%d monitors in the example", len(ms.Monitors))
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/health/web", "/health/db"} {
		resp, err := client.Get(fmt.Sprintf("http://%s%s", demo.Addr, path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d right after start, want 200", path, resp.StatusCode)
		}
	}
}
