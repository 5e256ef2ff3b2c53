package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/scalebench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cpra-scalebench:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg scalebench.Config
	var agentArgs string
	var blackbox, connFloor, keepFloor time.Duration
	var floorRate, clusterReplicas int
	var configCheck bool
	var lat scalebench.Latency
	flag.StringVar(&cfg.Agent, "agent", "bin/cpra-agent", "cpra-agent binary")
	flag.IntVar(&cfg.Monitors, "n", 1_000_000, "HTTP monitors")
	flag.DurationVar(&cfg.Interval, "interval", 60*time.Second, "monitor interval")
	flag.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "monitor timeout")
	flag.IntVar(&cfg.Hosts, "hosts", 16, "loopback addresses (127.0.0.1…) nginx listens on")
	flag.BoolVar(&cfg.KeepAlive, "keepalive", true, "nginx keeps connections open (false: a new connection per check)")
	flag.DurationVar(&cfg.Warmup, "warmup", 2*time.Minute, "warm-up, not measured")
	flag.DurationVar(&cfg.Measure, "measure", 10*time.Minute, "measured period")
	flag.DurationVar(&cfg.Window, "window", 10*time.Second, "one line per window")
	flag.DurationVar(&cfg.ReloadAt, "reload-at", 0, "this far into the measured period, change one monitor and reload the file (0: never)")
	flag.StringVar(&agentArgs, "agent-args", "", "extra agent flags, space-separated")
	flag.DurationVar(&blackbox, "blackbox", 0, "also drive blackbox_exporter with wrk for this long (0: skip)")
	flag.DurationVar(&connFloor, "conn-floor", 0, "instead of a run: measure the CPU per request on a new connection of three clients, from net/http to bare system calls, this long each")
	flag.DurationVar(&lat.Median, "latency-median", 0, "instead of nginx, the latency target: the median of its log-normal answer delay (0: nginx)")
	flag.Float64Var(&lat.Shape, "latency-shape", 0.6, "the latency target: σ of its log-normal answer delay")
	flag.Float64Var(&lat.HangShare, "hang", 0, "the latency target: share of monitors never answered")
	flag.Float64Var(&lat.FailShare, "fail", 0, "the latency target: share of monitors answered 503")
	flag.StringVar(&cfg.TargetBin, "target-bin", "bin/cpra-benchtarget", "the latency target's binary (cmd/cpra-benchtarget)")
	flag.DurationVar(&keepFloor, "keep-floor", 0, "instead of a run: measure the CPU per request on kept-alive connections to the latency target (-latency-median, default 50ms) of three clients, net/http, fasthttp and a bare net.Conn, this long each")
	flag.IntVar(&floorRate, "floor-rate", 4000, "requests per second of -keep-floor")
	flag.StringVar(&cfg.Dir, "dir", "", "work directory (default: a temporary one, removed)")
	flag.IntVar(&clusterReplicas, "cluster", 0, "instead of a run: that many replicas in cluster mode on 127.0.0.1… sharing -n monitors (every -interval) against the latency target (-latency-median, -hang, -fail); one is SIGKILLed once the failing monitors are red, then started again")
	flag.BoolVar(&configCheck, "config-check", false, "instead of a run: time and peak RSS of --config.check on a file of -n monitors, valid and with a syntax error on its last line")
	flag.Parse()
	cfg.AgentArgs = strings.Fields(agentArgs)
	if lat.Median > 0 {
		cfg.Latency = &lat
	}
	cfg.Out = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	host, _ := os.Hostname()
	fmt.Printf("# cpra-scalebench %s on %s: %d CPUs, %s, %s\n", time.Now().UTC().Format(time.RFC3339), host, runtime.NumCPU(), cpuModel(), runtime.Version())
	if connFloor > 0 {
		return runConnFloor(ctx, cfg.Dir, connFloor)
	}
	if configCheck {
		return runConfigCheck(ctx, cfg.Agent, cfg.Dir, cfg.Monitors)
	}
	if clusterReplicas > 0 {
		if lat.Median == 0 {
			lat.Median = 20 * time.Millisecond
		}
		_, err := scalebench.RunCluster(ctx, scalebench.ClusterConfig{Agent: cfg.Agent, TargetBin: cfg.TargetBin, Replicas: clusterReplicas,
			Monitors: cfg.Monitors, Interval: cfg.Interval, Latency: lat, Dir: cfg.Dir, Out: os.Stdout})
		return err
	}
	if keepFloor > 0 {
		if lat.Median == 0 {
			lat.Median = 50 * time.Millisecond
		}
		lat.HangShare, lat.FailShare = 0, 0
		// Enough goroutines for the requests in flight (λ × the delay's
		// mean, which σ 0.6 puts 20 % above the median), four times over.
		workers := max(64, int(4*float64(floorRate)*lat.Median.Seconds()*1.2))
		fmt.Printf("# CPU per request on kept-alive connections, %d requests/s from %d goroutines, the latency target: %s\n", floorRate, workers, lat)
		port, err := scalebench.FreePort()
		if err != nil {
			return err
		}
		_, err = scalebench.KeepFloor(ctx, scalebench.KeepFloorConfig{TargetBin: cfg.TargetBin, Latency: lat, Port: port,
			Rate: floorRate, Workers: workers, Duration: keepFloor, Out: os.Stdout})
		return err
	}
	rep, err := scalebench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if blackbox > 0 {
		dir := cfg.Dir
		if dir == "" {
			d, err := os.MkdirTemp("", "cpra-scalebench-bb-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		bb, err := scalebench.RunBlackbox(ctx, scalebench.BlackboxConfig{Dir: dir, KeepAlive: cfg.KeepAlive, Duration: blackbox, Out: os.Stdout,
			Latency: cfg.Latency, TargetBin: cfg.TargetBin})
		if err != nil {
			return err
		}
		fmt.Printf("# blackbox_exporter: %.0f probes/s, %.4f CPU-ms per probe; cpra-agent: %.0f checks/s, %.4f CPU-ms per check: %.1f× less CPU per check\n",
			bb.ProbesPerSec, bb.CPUPerProbe, rep.Summary.Served/rep.Summary.Period.Seconds(), rep.Summary.CPUPerCheck, bb.CPUPerProbe/rep.Summary.CPUPerCheck)
	}
	return nil
}

// runConfigCheck prints what --config.check costs on a valid file of n
// monitors and on the same file with a late syntax error.
func runConfigCheck(ctx context.Context, agent, dir string, n int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "cpra-scalebench-check-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rs, err := scalebench.ConfigCheck(ctx, agent, dir, n)
	for _, r := range rs {
		verdict := "OK"
		if r.Failed {
			verdict = "error found"
		}
		fmt.Printf("# --config.check %s (%d monitors, %d MB): %s in %v, peak RSS %d MiB\n%s",
			r.File, n, r.Bytes>>20, verdict, r.Elapsed.Round(10*time.Millisecond), r.PeakRSS>>20, r.Output)
	}
	return err
}

// runConnFloor measures 10,000 requests a second on new connections from
// 32 goroutines, as the agent sends them at 200k monitors every 20 s.
func runConnFloor(ctx context.Context, dir string, each time.Duration) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "cpra-scalebench-floor-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Println("# CPU per request on a new connection, 10000 requests/s from 32 goroutines, nginx closing every connection")
	_, err := scalebench.ConnFloor(ctx, scalebench.ConnFloorConfig{Dir: dir, Port: 18090, Rate: 10000, Workers: 32, Duration: each, Out: os.Stdout})
	return err
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
