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
	bin := build(t, "cpra-agent")

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

// build builds one of the repo's commands without the race detector, as a
// user runs it (the harness itself runs under -race), and returns its path.
func build(t *testing.T, command string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), command)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/cpra-agent/cpra-agent/cmd/"+command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %s: %v\n%s", command, err, out.String())
	}
	return bin
}

// TestShortLatencyRun is the short version of the latency benchmark that
// `make test` runs: the real binary, 5,000 HTTP monitors every 2 s on two
// loopback addresses of the latency target, which answers after a
// log-normal delay (median 100 ms, σ 0.6), never answers 2 % of the
// monitors and answers 503 to another 2 %. Exactly the bad set must alarm:
// every bad monitor red, no healthy one ever yellow or red, however the
// machine keeps up. No timing is asserted. (The timeout is 2 s: with a
// 1 s timeout the delay's own tail, P(Z > ln 10 / 0.6) ≈ 6·10⁻⁵, makes a
// few genuinely late answers in 75,000 checks, and a late answer is a
// failure.)
func TestShortLatencyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the latency target and the agent")
	}
	agent, target := build(t, "cpra-agent"), build(t, "cpra-benchtarget")
	lat := Latency{Median: 100 * time.Millisecond, Shape: 0.6, HangShare: 0.02, FailShare: 0.02}
	var lines bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Agent: agent, TargetBin: target, Latency: &lat, Monitors: 5_000, Hosts: 2,
		Interval: 2 * time.Second, Timeout: 2 * time.Second,
		Warmup: 10 * time.Second, Measure: 20 * time.Second, Window: 5 * time.Second,
		Dir: t.TempDir(), Out: &lines,
	})
	t.Logf("latency run (%d CPUs):\n%s", runtime.NumCPU(), lines.String())
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Alarms
	if a.Bad < 100 || a.Hanging == 0 || a.Failing == 0 {
		t.Fatalf("the target made %d monitors bad (%d hang, %d fail); want about 200 of both kinds", a.Bad, a.Hanging, a.Failing)
	}
	if a.Red != a.Bad || a.Missed != 0 {
		t.Errorf("%d of %d bad monitors red, %d missed; want every one red", a.Red, a.Bad, a.Missed)
	}
	if a.False != 0 {
		t.Errorf("%d healthy monitors got a yellow or red; want none (a slow healthy target is not down)", a.False)
	}
	if s := rep.Summary; s.ServedRatio < 0.5 {
		t.Errorf("served %.0f of %.0f due checks", s.Served, s.Due)
	}
}
