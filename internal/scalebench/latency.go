package scalebench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Latency describes the latency target: a server of the repo's own that
// answers like real services do. Each monitor's path names it
// (/health/NNNNNNN); by a hash of that number a monitor is healthy, hangs
// (never answers) or fails (answers 503), so the bad set is known in
// advance. Healthy monitors are answered after a log-normal delay.
type Latency struct {
	Median    time.Duration // of the log-normal delay
	Shape     float64       // σ of the log-normal delay
	HangShare float64       // of the monitors, in [0, 1]
	FailShare float64
}

// Verdict is what the latency target does for one monitor.
type Verdict uint8

// The verdicts.
const (
	Healthy Verdict = iota // answers 200 after the delay
	Hangs                  // never answers
	Fails                  // answers 503 after the delay
)

// Verdict says what the target does for monitor i: the same answer in the
// harness, which judges the alarms, and in the target.
func (l Latency) Verdict(i int) Verdict {
	u := float64(splitmix(uint64(i))>>11) / (1 << 53)
	switch {
	case u < l.HangShare:
		return Hangs
	case u < l.HangShare+l.FailShare:
		return Fails
	}
	return Healthy
}

// splitmix is SplitMix64's finaliser: a well-mixed hash of an integer.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// delay draws one log-normal delay.
func (l Latency) delay() time.Duration {
	return time.Duration(float64(l.Median) * math.Exp(l.Shape*rand.NormFloat64()))
}

// Args are the target command's flags for l.
func (l Latency) Args() []string {
	return []string{"-median", l.Median.String(), "-shape", fmt.Sprint(l.Shape),
		"-hang", fmt.Sprint(l.HangShare), "-fail", fmt.Sprint(l.FailShare)}
}

func (l Latency) String() string {
	return fmt.Sprintf("log-normal delay (median %v, σ %.2g), %.2g %% hang, %.2g %% fail", l.Median, l.Shape, 100*l.HangShare, 100*l.FailShare)
}

// Handler serves the latency target's answers.
func (l Latency) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/health/"))
		if err != nil {
			http.Error(w, "path must be /health/N", http.StatusNotFound)
			return
		}
		v := l.Verdict(i)
		if v == Hangs {
			<-r.Context().Done() // until the checker gives up and closes
			return
		}
		t := time.NewTimer(l.delay())
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		if v == Fails {
			http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}

// ServeLatency serves l on every address until ctx ends. It is the body of
// cmd/cpra-benchtarget.
func ServeLatency(ctx context.Context, l Latency, addrs []string) error {
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: time.Minute}
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		go func() { errs <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
		srv.Close()
		return nil
	case err := <-errs:
		srv.Close()
		return err
	}
}

// Target is a latency target running as its own process, so its CPU is
// measured apart from the agent's.
type Target struct {
	Addrs []string
	cmd   *exec.Cmd
	done  chan error
}

// StartLatencyTarget runs bin (cmd/cpra-benchtarget) serving l on port of
// 127.0.0.1…127.0.0.hosts, and waits until every address answers.
func StartLatencyTarget(ctx context.Context, bin string, l Latency, hosts, port int) (*Target, error) {
	var addrs []string
	for i := 1; i <= hosts; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d:%d", i, port))
	}
	args := append(l.Args(), "-listen", strings.Join(addrs, ","))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start latency target %s: %w", bin, err)
	}
	t := &Target{Addrs: addrs, cmd: cmd, done: make(chan error, 1)}
	go func() { t.done <- cmd.Wait() }()
	for _, a := range addrs {
		if err := waitListening(ctx, a, t.done); err != nil {
			t.Stop()
			return nil, fmt.Errorf("latency target: %w", err)
		}
	}
	return t, nil
}

func waitListening(ctx context.Context, addr string, done chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after 30s: %w", addr, err)
		}
		select {
		case err := <-done:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pids is the target's process.
func (t *Target) Pids() []int { return []int{t.cmd.Process.Pid} }

// Stop ends the target.
func (t *Target) Stop() {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.done
	}
}

// ErrNoTarget says the latency target binary is missing.
var ErrNoTarget = errors.New("latency target binary not set (build cmd/cpra-benchtarget)")
