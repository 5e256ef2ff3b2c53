package scalebench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Config is one scale run.
type Config struct {
	Agent     string        // path of the cpra-agent binary
	Monitors  int           // how many HTTP monitors
	Interval  time.Duration // their interval
	Timeout   time.Duration // their timeout
	Hosts     int           // loopback addresses nginx listens on (127.0.0.1…); default 16
	KeepAlive bool          // false: nginx closes every connection
	// Latency, when set, replaces nginx with the latency target (the
	// binary TargetBin, cmd/cpra-benchtarget), and the report judges the
	// alarms against its bad set.
	Latency   *Latency
	TargetBin string
	Warmup    time.Duration // not measured
	Measure   time.Duration // measured, after the warm-up
	Window    time.Duration // one report line per window
	ReloadAt  time.Duration // into the measured period: rewrite the file with one monitor changed and POST /-/reload; 0: never
	AgentArgs []string      // extra flags for the agent
	AgentEnv  []string      // extra environment for the agent
	Dir       string        // work directory; a temporary one when empty
	Out       io.Writer     // report lines; nil discards
}

// Window is one report line.
type Window struct {
	At           time.Duration // since the agent started
	Measured     bool          // after the warm-up
	Served, Due  float64       // checks per second
	Failures     float64       // failed checks per second
	Inconclusive float64       // checks per second not counted for or against a monitor
	LagP50       float64       // seconds
	LagP99       float64
	LagMean      float64
	CPUPerCheck  float64 // agent CPU milliseconds per served check
	AgentCores   float64 // agent CPU seconds per second
	TargetCores  float64 // the target's (nginx's master and worker, or the latency target)
	Steal        float64 // percent of the machine's CPU time stolen by the hypervisor
	RSS          int64
	States       map[string]float64
	Workers      float64
	Running      float64
	Rejected     float64 // breaker rejections in the window
	Deferred     float64 // checks deferred by backpressure in the window
	Codes        float64 // codes dispatched in the window
	Sockets      int     // agent's open sockets
	Arrival      float64 // the sizing controller's arrival-rate estimate
	ServiceTime  float64 // and its mean service time, seconds
}

// Report is a whole run.
type Report struct {
	Config      Config
	MetricsUp   time.Duration // start until /metrics answered
	Ready       time.Duration // start until /-/ready said the monitors are loaded
	HeapPerMon  float64       // go_memstats_heap_inuse_bytes / monitors, right after load
	Windows     []Window
	Reloaded    time.Duration // how long the reload took (POST /-/reload until it answered); 0: none
	Summary     Summary
	AgentStderr int // lines the agent logged
	CodeLines   int // lines the log notifier wrote (codes)
	Alarms      Alarms
}

// Summary covers the measured windows as one period.
type Summary struct {
	Period         time.Duration
	Due, Served    float64 // checks in the period
	ServedRatio    float64
	LagP50, LagP99 float64
	LagMean        float64
	CPUPerCheck    float64 // ms
	Steal          float64 // percent of the machine's CPU time, over the period
	MaxSteal       float64 // the worst window's
	MaxRSS         int64
	MaxWorkers     float64
	MaxNotHealthy  float64 // measured windows: the largest count of monitors in any state but healthy
	MaxAlarmed     float64 // whole run: the largest count degraded, down, intervening or verifying
	Rejected       float64
	Deferred       float64
	Failures       float64
	Inconclusive   float64
	Codes          float64
	MaxSockets     int
	AgentCores     float64 // agent CPU seconds per second, over the period
	TargetCores    float64
}

// Run starts nginx and the agent, measures, and stops both.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Hosts == 0 {
		cfg.Hosts = 16
	}
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "cpra-scalebench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	var ng target
	if cfg.Latency != nil {
		if cfg.TargetBin == "" {
			return nil, ErrNoTarget
		}
		ng, err = StartLatencyTarget(ctx, cfg.TargetBin, *cfg.Latency, cfg.Hosts, port)
	} else {
		ng, err = StartNginx(ctx, filepath.Join(cfg.Dir, "nginx"), cfg.Hosts, port, cfg.KeepAlive)
	}
	if err != nil {
		return nil, err
	}
	defer ng.Stop()

	codes := filepath.Join(cfg.Dir, "codes.log")
	monitors := filepath.Join(cfg.Dir, "monitors.yaml")
	if err := WriteMonitorFile(monitors, cfg.Monitors, ng.addrs(), cfg.Interval, cfg.Timeout, codes, 0); err != nil {
		return nil, fmt.Errorf("monitor file: %w", err)
	}
	webPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	args := append([]string{"--yaml", monitors, "--web.listen-address", fmt.Sprintf("127.0.0.1:%d", webPort),
		"--storage.path", filepath.Join(cfg.Dir, "state")}, cfg.AgentArgs...)
	stderrFile := filepath.Join(cfg.Dir, "agent.log")
	logf, err := os.Create(stderrFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(cfg.Agent, args...)
	cmd.Env = append(os.Environ(), cfg.AgentEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("agent did not stop within 60s of SIGTERM")
		}
	}

	rep := &Report{Config: cfg}
	client := &http.Client{Timeout: 10 * time.Second}
	what := fmt.Sprintf("nginx, keep-alive %v", cfg.KeepAlive)
	if cfg.Latency != nil {
		what = "the latency target: " + cfg.Latency.String()
	}
	fmt.Fprintf(cfg.Out, "# %d monitors every %v, timeout %v (%.0f checks/s due) on %d loopback addresses of %s; warm-up %v, measured %v\n",
		cfg.Monitors, cfg.Interval, cfg.Timeout, dueRate(cfg), cfg.Hosts, what, cfg.Warmup, cfg.Measure)
	if err := waitStarted(ctx, client, base, start, exited, rep); err != nil {
		stop()
		return rep, fmt.Errorf("%w\n%s", err, tail(stderrFile, 20))
	}
	first, err := ScrapeAgent(ctx, client, base+"/metrics")
	if err != nil {
		stop()
		return rep, err
	}
	rep.HeapPerMon = first.HeapInuse / float64(max(cfg.Monitors, 1))
	fmt.Fprintf(cfg.Out, "# /metrics answered after %v, monitors loaded after %v, heap in use %.0f B per monitor\n",
		rep.MetricsUp.Round(time.Millisecond), rep.Ready.Round(time.Millisecond), rep.HeapPerMon)
	fmt.Fprintln(cfg.Out, header)

	pid := cmd.Process.Pid
	prev, prevProc, prevAt := first, sampleProcs(pid, ng), time.Now()
	var measureStart Scrape
	var measureProc procs
	var measureAt time.Time
	end := start.Add(rep.Ready + cfg.Warmup + cfg.Measure)
	warmEnd := start.Add(rep.Ready + cfg.Warmup)
	measuring := cfg.Warmup == 0
	if measuring {
		measureStart, measureProc, measureAt = first, prevProc, prevAt
	}
	ticker := time.NewTicker(cfg.Window)
	defer ticker.Stop()
	reloadStarted, reloadDone := false, false
	reloaded := make(chan error, 1)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			stop()
			return rep, ctx.Err()
		case err := <-exited:
			return rep, fmt.Errorf("agent exited during the run: %v\n%s", err, tail(stderrFile, 20))
		case err := <-reloaded:
			reloadDone = true
			if err != nil {
				stop()
				return rep, fmt.Errorf("reload: %w\n%s", err, tail(stderrFile, 20))
			}
			fmt.Fprintf(cfg.Out, "# reload of %d monitors with one changed took %v\n", cfg.Monitors, rep.Reloaded.Round(time.Millisecond))
			continue
		case <-ticker.C:
		}
		if cfg.ReloadAt > 0 && measuring && !reloadStarted && time.Since(measureAt) >= cfg.ReloadAt {
			reloadStarted = true
			fmt.Fprintln(cfg.Out, "# reloading: one monitor changed")
			go func() { reloaded <- reload(client, base, monitors, cfg, ng.addrs(), codes, rep) }()
		}
		s, err := ScrapeAgent(ctx, client, base+"/metrics")
		if err != nil {
			fmt.Fprintf(cfg.Out, "# scrape failed: %v\n", err)
			continue
		}
		now := time.Now()
		ps := sampleProcs(pid, ng)
		w := window(cfg, prev, s, prevProc, ps, now.Sub(prevAt))
		w.At, w.Measured = now.Sub(start), measuring
		rep.Windows = append(rep.Windows, w)
		fmt.Fprintln(cfg.Out, w.line())
		prev, prevProc, prevAt = s, ps, now
		if !measuring && !now.Before(warmEnd) {
			measuring = true
			measureStart, measureProc, measureAt = s, ps, now
			fmt.Fprintln(cfg.Out, "# warm-up over: measuring")
		}
	}
	if reloadStarted && !reloadDone {
		if err := <-reloaded; err != nil {
			stop()
			return rep, fmt.Errorf("reload: %w", err)
		}
	}
	if measureAt.IsZero() {
		measureStart, measureProc, measureAt = first, sampleProcs(pid, ng), start
	}
	rep.Summary = summarise(cfg, rep.Windows, measureStart, prev, measureProc, prevProc, prevAt.Sub(measureAt))
	stopErr := stop()
	rep.AgentStderr = countLines(stderrFile)
	rep.CodeLines = countLines(codes)
	var l Latency // nginx: every monitor healthy
	if cfg.Latency != nil {
		l = *cfg.Latency
	}
	alarms, err := JudgeAlarms(codes, cfg.Monitors, l, start.Add(rep.Ready), cfg.Interval)
	if err != nil {
		return rep, err
	}
	rep.Alarms = alarms
	fmt.Fprintln(cfg.Out, rep.Summary.text(cfg, rep))
	if stopErr != nil {
		var ee *exec.ExitError
		if !errors.As(stopErr, &ee) {
			return rep, stopErr
		}
		return rep, fmt.Errorf("agent exit: %v\n%s", stopErr, tail(stderrFile, 20))
	}
	return rep, nil
}

// reload rewrites the monitor file with the first monitor changed, then
// asks the agent to reload it and times the answer.
func reload(client *http.Client, base, path string, cfg Config, addrs []string, codes string, rep *Report) error {
	tmp := path + ".new"
	if err := WriteMonitorFile(tmp, cfg.Monitors, addrs, cfg.Interval, cfg.Timeout, codes, 1); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	start := time.Now()
	c := *client
	c.Timeout = 2 * time.Minute
	resp, err := c.Post(base+"/-/reload", "", nil)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /-/reload: %s: %s", resp.Status, body)
	}
	rep.Reloaded = time.Since(start)
	return nil
}

func dueRate(cfg Config) float64 { return float64(cfg.Monitors) / cfg.Interval.Seconds() }

// waitStarted polls until /metrics answers and then until /-/ready does.
func waitStarted(ctx context.Context, c *http.Client, base string, start time.Time, exited chan error, rep *Report) error {
	get := func(path string) bool {
		resp, err := c.Get(base + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := start.Add(5 * time.Minute)
	for rep.Ready == 0 {
		if rep.MetricsUp == 0 && get("/metrics") {
			rep.MetricsUp = time.Since(start)
		}
		if rep.MetricsUp != 0 && get("/-/ready") {
			rep.Ready = time.Since(start)
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("agent exited during start-up: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("agent not ready after 5 minutes")
		}
	}
	return nil
}

// target is what the agent checks: nginx or the latency target.
type target interface {
	Pids() []int
	Stop()
	addrs() []string
}

func (n *Nginx) addrs() []string  { return n.Addrs }
func (t *Target) addrs() []string { return t.Addrs }

// procs is one sample of the processes and the machine a window compares.
type procs struct {
	agent  ProcSample
	target time.Duration // CPU so far
	host   HostSample
}

func sampleProcs(agent int, t target) procs {
	h, _ := ReadHost()
	return procs{agent: mustProc(agent), target: cpuOf(t.Pids()), host: h}
}

func window(cfg Config, a, b Scrape, p, q procs, d time.Duration) Window {
	pa, pb := p.agent, q.agent
	secs := d.Seconds()
	served := b.Checks - a.Checks
	w := Window{
		Served:       served / secs,
		Due:          dueRate(cfg),
		Failures:     (b.Failures - a.Failures) / secs,
		Inconclusive: (b.Inconclusive - a.Inconclusive) / secs,
		LagP50:       lagQuantile(a, b, 0.5),
		LagP99:       lagQuantile(a, b, 0.99),
		LagMean:      safeDiv(b.LagSum-a.LagSum, b.LagCount-a.LagCount),
		CPUPerCheck:  safeDiv(float64(pb.CPU-pa.CPU)/float64(time.Millisecond), served),
		AgentCores:   (pb.CPU - pa.CPU).Seconds() / secs,
		TargetCores:  (q.target - p.target).Seconds() / secs,
		Steal:        stealPercent(p.host, q.host),
		RSS:          pb.RSS,
		States:       b.States,
		Workers:      b.Workers,
		Running:      b.Running,
		Rejected:     b.Rejected - a.Rejected,
		Deferred:     b.Deferred - a.Deferred,
		Codes:        b.Codes - a.Codes,
		Sockets:      pb.Sockets,
		Arrival:      b.Arrival,
		ServiceTime:  b.ServiceTime,
	}
	return w
}

const header = "#   time  served/s     due/s  fail/s  incon/s  lag_p50  lag_p99  lag_mean  cpu_ms/chk  rss_MiB  healthy  other  workers  running  rejected  deferred  codes  sockets  sizing_λ  sizing_S  agent_cores  target_cores  steal_%"

func (w Window) line() string {
	healthy := w.States["healthy"]
	other := 0.0
	for s, n := range w.States {
		if s != "healthy" {
			other += n
		}
	}
	return fmt.Sprintf("%7.0fs  %8.0f  %8.0f  %6.0f  %7.0f  %7s  %7s  %8s  %10.4f  %7.0f  %7.0f  %5.0f  %7.0f  %7.0f  %8.0f  %8.0f  %5.0f  %7d  %8.0f  %8s  %11.2f  %12.2f  %7.1f",
		w.At.Seconds(), w.Served, w.Due, w.Failures, w.Inconclusive,
		dur(w.LagP50), dur(w.LagP99), dur(w.LagMean), w.CPUPerCheck, float64(w.RSS)/(1<<20),
		healthy, other, w.Workers, w.Running, w.Rejected, w.Deferred, w.Codes, w.Sockets, w.Arrival, dur(w.ServiceTime), w.AgentCores, w.TargetCores, w.Steal)
}

func summarise(cfg Config, ws []Window, a, b Scrape, p, q procs, d time.Duration) Summary {
	pa, pb := p.agent, q.agent
	s := Summary{
		Period:       d,
		Due:          dueRate(cfg) * d.Seconds(),
		Served:       b.Checks - a.Checks,
		LagP50:       lagQuantile(a, b, 0.5),
		LagP99:       lagQuantile(a, b, 0.99),
		LagMean:      safeDiv(b.LagSum-a.LagSum, b.LagCount-a.LagCount),
		Rejected:     b.Rejected - a.Rejected,
		Deferred:     b.Deferred - a.Deferred,
		Failures:     b.Failures - a.Failures,
		Inconclusive: b.Inconclusive - a.Inconclusive,
		Codes:        b.Codes - a.Codes,
	}
	s.ServedRatio = safeDiv(s.Served, s.Due)
	s.CPUPerCheck = safeDiv(float64(pb.CPU-pa.CPU)/float64(time.Millisecond), s.Served)
	s.Steal = stealPercent(p.host, q.host)
	if secs := d.Seconds(); secs > 0 {
		s.AgentCores = (pb.CPU - pa.CPU).Seconds() / secs
		s.TargetCores = (q.target - p.target).Seconds() / secs
	}
	// The resource maxima and the alarms cover every window, warm-up
	// included: a monitor that went yellow during warm-up is a false alarm
	// too. Monitors not checked yet (unknown) are expected during the
	// first interval, so "not healthy" counts the measured windows only.
	for _, w := range ws {
		s.MaxRSS = max(s.MaxRSS, w.RSS)
		s.MaxWorkers = max(s.MaxWorkers, w.Workers)
		s.MaxSockets = max(s.MaxSockets, w.Sockets)
		alarmed := w.States["degraded"] + w.States["down"] + w.States["intervening"] + w.States["verifying"]
		s.MaxAlarmed = max(s.MaxAlarmed, alarmed)
		if !w.Measured {
			continue
		}
		s.MaxSteal = max(s.MaxSteal, w.Steal)
		other := 0.0
		for st, n := range w.States {
			if st != "healthy" {
				other += n
			}
		}
		s.MaxNotHealthy = max(s.MaxNotHealthy, other)
	}
	return s
}

func (s Summary) text(cfg Config, r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# summary over %v measured: served %.0f of %.0f due (%.2f %%), lag p50 %s p99 %s mean %s, %.4f CPU-ms per check\n",
		s.Period.Round(time.Second), s.Served, s.Due, 100*s.ServedRatio, dur(s.LagP50), dur(s.LagP99), dur(s.LagMean), s.CPUPerCheck)
	fmt.Fprintf(&b, "# whole run: max RSS %.0f MiB, max pulse workers %.0f, max sockets %d, most monitors alarmed %.0f; measured: most not healthy %.0f, %.0f failed and %.0f inconclusive checks, %.0f breaker rejections, %.0f deferrals, %.0f codes; CPU steal %.1f %% (worst window %.1f %%)\n",
		float64(s.MaxRSS)/(1<<20), s.MaxWorkers, s.MaxSockets, s.MaxAlarmed, s.MaxNotHealthy, s.Failures, s.Inconclusive, s.Rejected, s.Deferred, s.Codes, s.Steal, s.MaxSteal)
	fmt.Fprintf(&b, "# cores: agent %.2f, target %.2f\n", s.AgentCores, s.TargetCores)
	fmt.Fprintf(&b, "# alarms: %s\n", r.Alarms)
	fmt.Fprintf(&b, "# start-up: /metrics after %v, ready after %v, %.0f heap bytes per monitor; agent log %d lines, code log %d lines",
		r.MetricsUp.Round(time.Millisecond), r.Ready.Round(time.Millisecond), r.HeapPerMon, r.AgentStderr, r.CodeLines)
	if r.Reloaded > 0 {
		fmt.Fprintf(&b, "; a reload with one monitor changed took %v", r.Reloaded.Round(time.Millisecond))
	}
	return b.String()
}

func dur(sec float64) string {
	if math.IsNaN(sec) {
		return "-"
	}
	return time.Duration(sec * float64(time.Second)).Round(10 * time.Microsecond).String()
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func mustProc(pid int) ProcSample {
	s, _ := ReadProc(pid)
	return s
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<16)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err != nil {
			return n
		}
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
