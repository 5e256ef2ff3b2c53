package scalebench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestShortScaleRun is the short version of the scale benchmark that
// `make test` runs: the real binary, 20,000 HTTP monitors on 16 loopback
// addresses of one nginx, every target healthy. It asserts what must hold
// whatever the machine's speed: the agent checks the fleet, no check
// fails, no monitor leaves healthy, no code is sent, no breaker rejects, and
// the pulse pool stays far below its maximum. The throughput and latency
// figures live in the benchmark (make bench-scale), not here.
func TestShortScaleRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts nginx and the agent")
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat(NginxBinary); err != nil {
			t.Skip("nginx not installed (make test-deps installs nginx-light as root)")
		}
	}
	bin := filepath.Join(t.TempDir(), "cpra-agent")
	// Built without the race detector, as a user runs it: the harness
	// itself runs under -race.
	build := exec.Command("go", "build", "-o", bin, "github.com/cpra-agent/cpra-agent/cmd/cpra-agent")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out.String())
	}

	for _, keepAlive := range []bool{true, false} {
		name := "keepalive"
		if !keepAlive {
			name = "new-connection-each"
		}
		t.Run(name, func(t *testing.T) {
			var lines bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rep, err := Run(ctx, Config{
				Agent: bin, Monitors: 20_000, Interval: 10 * time.Second, Timeout: 5 * time.Second,
				KeepAlive: keepAlive, Warmup: 15 * time.Second, Measure: 20 * time.Second, Window: 5 * time.Second,
				Dir: t.TempDir(), Out: &lines,
			})
			t.Logf("scale run (%d CPUs):\n%s", runtime.NumCPU(), lines.String())
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Summary
			// Served well over half of what was due: a check lost for good
			// would show as a missing fraction; a slow machine shows as lag.
			if s.ServedRatio < 0.5 {
				t.Errorf("served %.0f of %.0f due checks", s.Served, s.Due)
			}
			for what, n := range map[string]float64{
				"failed checks":                    s.Failures,
				"monitors alarmed (whole run)":     s.MaxAlarmed,
				"monitors not healthy (measured)":  s.MaxNotHealthy,
				"codes dispatched":                 s.Codes,
				"breaker rejections":               s.Rejected,
				"code lines in the notifier's log": float64(rep.CodeLines),
			} {
				if n != 0 {
					t.Errorf("%s: %.0f, want 0 (every target is healthy)", what, n)
				}
			}
			if s.MaxWorkers > 2000 {
				t.Errorf("pulse pool grew to %.0f workers for 2,000 checks a second", s.MaxWorkers)
			}
		})
	}
}

// TestConnFloor runs the connection-cost measurement briefly against a
// real nginx: every client gets its answers and the CPU is accounted.
func TestConnFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx")
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat(NginxBinary); err != nil {
			t.Skip("nginx not installed (make test-deps installs nginx-light as root)")
		}
	}
	var out bytes.Buffer
	rs, err := ConnFloor(context.Background(), ConnFloorConfig{
		Dir: t.TempDir(), Port: 18091, Rate: 500, Workers: 4, Duration: time.Second, Out: &out,
	})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("got %d results, want one per client", len(rs))
	}
	for _, r := range rs {
		if r.Requests == 0 || r.Failures != 0 {
			t.Errorf("%s: %d requests, %d failed; want some, none failed", r.Client, r.Requests, r.Failures)
		}
		if !(r.CPUPerReq > 0) {
			t.Errorf("%s: CPU per request %v, want > 0", r.Client, r.CPUPerReq)
		}
	}
}
