package scalebench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BlackboxResult is blackbox_exporter driven by wrk at full speed.
type BlackboxResult struct {
	Duration     time.Duration
	Probes       float64 // probes answered
	ProbesPerSec float64
	CPUPerProbe  float64 // the exporter's CPU milliseconds per probe
}

// BlackboxConfig is one blackbox run.
type BlackboxConfig struct {
	Dir         string
	KeepAlive   bool          // nginx keep-alive (blackbox dials anew for every probe either way)
	Duration    time.Duration // how long wrk drives it
	Connections int           // wrk connections; default 32, 256 against the latency target
	Out         io.Writer
	// Latency, when set, puts blackbox_exporter against the latency target
	// (TargetBin) instead of nginx, probing one of its healthy monitors.
	Latency   *Latency
	TargetBin string
}

// RunBlackbox starts nginx and Debian's prometheus-blackbox-exporter on
// loopback and drives /probe with wrk (two threads) for the duration.
func RunBlackbox(ctx context.Context, cfg BlackboxConfig) (*BlackboxResult, error) {
	if cfg.Connections == 0 {
		cfg.Connections = 32
		if cfg.Latency != nil {
			cfg.Connections = 256 // probes wait on the target: more in flight
		}
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	bb, err := exec.LookPath("prometheus-blackbox-exporter")
	if err != nil {
		return nil, fmt.Errorf("blackbox_exporter not installed (apt-get install prometheus-blackbox-exporter): %w", err)
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("wrk not installed (apt-get install wrk): %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	var ng target
	path := "/health"
	if cfg.Latency != nil {
		ng, err = StartLatencyTarget(ctx, cfg.TargetBin, *cfg.Latency, 1, port)
		i := 0
		for cfg.Latency.Verdict(i) != Healthy {
			i++
		}
		path = fmt.Sprintf("/health/%07d", i)
	} else {
		ng, err = StartNginx(ctx, filepath.Join(cfg.Dir, "nginx-blackbox"), 1, port, cfg.KeepAlive)
	}
	if err != nil {
		return nil, err
	}
	defer ng.Stop()

	conf := filepath.Join(cfg.Dir, "blackbox.yml")
	if err := os.WriteFile(conf, []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"), 0o644); err != nil {
		return nil, err
	}
	bbPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", bbPort)
	cmd := exec.Command(bb, "--config.file="+conf, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	probe := fmt.Sprintf("http://%s/probe?module=http_2xx&target=%s", addr, "http://"+ng.addrs()[0]+path)
	if err := waitProbe(ctx, probe); err != nil {
		return nil, err
	}

	before := cpuOf([]int{cmd.Process.Pid})
	start := time.Now()
	out, err := exec.CommandContext(ctx, wrk, "-t", "2", "-c", strconv.Itoa(cfg.Connections),
		"-d", fmt.Sprintf("%ds", int(cfg.Duration.Seconds())), probe).CombinedOutput()
	elapsed := time.Since(start)
	used := cpuOf([]int{cmd.Process.Pid}) - before
	if err != nil {
		return nil, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	fmt.Fprintf(cfg.Out, "# wrk on blackbox_exporter /probe:\n%s", indent(string(out)))
	n, err := wrkRequests(string(out))
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(out), "Non-2xx") {
		return nil, fmt.Errorf("blackbox_exporter answered errors:\n%s", out)
	}
	return &BlackboxResult{
		Duration: elapsed, Probes: n, ProbesPerSec: n / elapsed.Seconds(),
		CPUPerProbe: float64(used) / float64(time.Millisecond) / n,
	}, nil
}

// waitProbe waits until one probe succeeds.
func waitProbe(ctx context.Context, url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "probe_success 1") {
				return nil
			}
			err = fmt.Errorf("probe failed: %s", body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("blackbox_exporter: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var wrkTotal = regexp.MustCompile(`(\d+) requests in`)

func wrkRequests(out string) (float64, error) {
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk output without a request count:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

func indent(s string) string {
	return "#   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n#   ") + "\n"
}
