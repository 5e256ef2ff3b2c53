package owner

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/agent/world"
)

// fleetFile is n HTTP monitors in the seed format.
func fleetFile(n int) string {
	var b bytes.Buffer
	b.WriteString("monitors:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: svc-%07d\n    pulse_check: {type: http, interval: 60s, config: {url: \"http://10.%d.%d.%d:8080/health\"}}\n",
			i, i>>16&255, i>>8&255, i&255)
	}
	return b.String()
}

// BenchmarkStateSnapshot_1M measures the state directory at a million
// monitors, 1 % of them down: the snapshot the owner takes on its own
// goroutine (owner-ms/op, the time scheduling waits), the whole write with
// encoding and fsync (ns/op), and the file's size.
func BenchmarkStateSnapshot_1M(b *testing.B) { benchSnapshot(b, 1_000_000) }

// BenchmarkStateSnapshot_100k is the same at a tenth of the size.
func BenchmarkStateSnapshot_100k(b *testing.B) { benchSnapshot(b, 100_000) }

func benchSnapshot(b *testing.B, n int) {
	o := newTestOwner(b, nil)
	now := time.Now()
	ms := parse(b, fleetFile(n))
	if _, _, err := o.apply(ms, world.Kept{}, now); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 100 {
		o.world.Restore(fmt.Sprintf("svc-%07d", i), incident.Status{State: incident.Down, Fails: 3}, now, &o.fx)
	}
	o.fx.Reset()
	dir := b.TempDir()
	var owner time.Duration
	size := 0
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		f := o.snapshot(now, nil)
		owner += time.Since(start)
		var err error
		if size, err = state.Write(dir, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(owner.Milliseconds())/float64(b.N), "owner-ms/op")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
