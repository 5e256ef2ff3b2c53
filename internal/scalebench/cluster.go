package scalebench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cpra-agent/cpra-agent/internal/freeport"
)

// ClusterConfig is a cluster benchmark: Replicas agents on 127.0.0.1…
// sharing Monitors monitors against the latency target, one of them
// SIGKILLed once every failing monitor is red, then started again.
type ClusterConfig struct {
	Agent, TargetBin string
	Replicas         int
	Monitors         int
	Interval         time.Duration
	Latency          Latency
	Dir              string
	Out              io.Writer
}

// ClusterReport is what the kill and the return cost.
type ClusterReport struct {
	OwnedBefore     []float64     // monitors each replica owned before the kill
	Detected        time.Duration // from the kill until the survivors own every monitor
	Moved           float64       // monitors the survivors gained
	ServedAfter     float64       // checks the survivors served in the interval after detection, over those due
	Bad, Paged      int           // failing monitors; of them, sent no code after the kill (their incident went on)
	StartDoubled    int           // failing monitors with more than one yellow or red before the kill (the ring forming at start)
	Adopted         float64       // incidents the survivors took over
	Back            time.Duration // from the restart until the returned replica owns its share
	OwnedAfterBack  float64       // what it owns then
	MovedBack       float64       // monitors the survivors lost to it
	DoubleChecksMax float64       // most checks served in one interval over the due, during the return
}

type clusterAgent struct {
	name, web, gossip string
	cmd               *exec.Cmd
	exited            chan error
}

// RunCluster runs the cluster benchmark.
func RunCluster(ctx context.Context, cfg ClusterConfig) (*ClusterReport, error) {
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "cpra-scalebench-cluster-")
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
	target, err := StartLatencyTarget(ctx, cfg.TargetBin, cfg.Latency, 1, port)
	if err != nil {
		return nil, err
	}
	defer target.Stop()
	codes := filepath.Join(cfg.Dir, "codes.log")
	monitors := filepath.Join(cfg.Dir, "monitors.yaml")
	if err := WriteMonitorFile(monitors, cfg.Monitors, target.Addrs, cfg.Interval, min(5*time.Second, cfg.Interval), codes, 0); err != nil {
		return nil, err
	}
	var bad []string
	for i := range cfg.Monitors {
		if cfg.Latency.Verdict(i) != Healthy {
			bad = append(bad, fmt.Sprintf("svc-%07d", i))
		}
	}
	agents := make([]*clusterAgent, cfg.Replicas)
	for i := range agents {
		web, err := FreePort()
		if err != nil {
			return nil, err
		}
		g, err := freeport.TCPAndUDP(fmt.Sprintf("127.0.0.%d", i+1))
		if err != nil {
			return nil, err
		}
		agents[i] = &clusterAgent{name: fmt.Sprintf("agent-%d", i), web: fmt.Sprintf("127.0.0.%d:%d", i+1, web), gossip: g}
	}
	start := func(a *clusterAgent) error {
		args := []string{"--yaml", monitors, "--web.listen-address", a.web, "--storage.path", filepath.Join(cfg.Dir, a.name),
			"--cluster.name", a.name, "--cluster.listen-address", a.gossip, "--cluster.join", agents[0].gossip}
		logf, err := os.OpenFile(filepath.Join(cfg.Dir, a.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		a.cmd = exec.Command(cfg.Agent, args...)
		a.cmd.Stdout, a.cmd.Stderr = logf, logf
		if err := a.cmd.Start(); err != nil {
			return err
		}
		a.exited = make(chan error, 1)
		go func() { a.exited <- a.cmd.Wait(); logf.Close() }()
		return nil
	}
	defer func() {
		for _, a := range agents {
			if a.cmd != nil && a.cmd.ProcessState == nil {
				_ = a.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-a.exited:
				case <-time.After(60 * time.Second):
					_ = a.cmd.Process.Kill()
				}
			}
		}
	}()
	for _, a := range agents {
		if err := start(a); err != nil {
			return nil, err
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	value := func(a *clusterAgent, name string, labels ...string) float64 {
		v, _ := scrapeValue(ctx, client, "http://"+a.web+"/metrics", name, labels...)
		return v
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) error {
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				return fmt.Errorf("gave up after %v waiting for %s", limit, what)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		return nil
	}
	out := cfg.Out
	fmt.Fprintf(out, "# %d replicas, %d monitors every %v against the latency target (%s): %d failing\n",
		cfg.Replicas, cfg.Monitors, cfg.Interval, cfg.Latency, len(bad))
	if err := waitUntil("every replica to see them all", 2*time.Minute, func() bool {
		for _, a := range agents {
			if value(a, "cpra_cluster_members", "state", "alive") != float64(cfg.Replicas) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	if err := waitUntil("every failing monitor red", 10*cfg.Interval+time.Minute, func() bool {
		reds := codesByMonitor(codes)
		for _, m := range bad {
			if reds[m]["red"] < 1 {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	rep := &ClusterReport{Bad: len(bad)}
	victim := agents[len(agents)-1]
	sent := value(victim, "cpra_cluster_handover_total", "result", "sent")
	if err := waitUntil("a replication round after the reds", time.Minute, func() bool {
		return value(victim, "cpra_cluster_handover_total", "result", "sent") >= sent+float64(2*(cfg.Replicas-1))
	}); err != nil {
		return nil, err
	}
	survivors := agents[:len(agents)-1]
	sum := func(as []*clusterAgent, name string, labels ...string) float64 {
		t := 0.0
		for _, a := range as {
			t += value(a, name, labels...)
		}
		return t
	}
	for _, a := range agents {
		rep.OwnedBefore = append(rep.OwnedBefore, value(a, "cpra_cluster_owned_monitors"))
	}
	gainedBefore := sum(survivors, "cpra_cluster_ownership_changes_total", "direction", "gained")
	fmt.Fprintf(out, "# before the kill each replica owns %v\n", rep.OwnedBefore)
	beforeKill := codesByMonitor(codes)
	for _, m := range bad {
		if beforeKill[m]["yellow"] > 1 || beforeKill[m]["red"] > 1 {
			rep.StartDoubled++
		}
	}
	killed := time.Now()
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	if err := waitUntil("the survivors to own every monitor", 2*time.Minute, func() bool {
		return sum(survivors, "cpra_cluster_owned_monitors") == float64(cfg.Monitors)
	}); err != nil {
		return nil, err
	}
	rep.Detected = time.Since(killed)
	rep.Moved = sum(survivors, "cpra_cluster_ownership_changes_total", "direction", "gained") - gainedBefore
	checks0 := sum(survivors, "cpra_checks_total")
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Interval):
	}
	rep.ServedAfter = (sum(survivors, "cpra_checks_total") - checks0) / float64(cfg.Monitors)
	rep.Adopted = sum(survivors, "cpra_cluster_handover_total", "result", "adopted")
	// Two more intervals: a monitor paged again would have been by now.
	time.Sleep(2 * cfg.Interval)
	byMonitor := codesByMonitor(codes)
	var odd []string
	for _, m := range bad {
		if byMonitor[m]["red"] == beforeKill[m]["red"] && byMonitor[m]["yellow"] == beforeKill[m]["yellow"] {
			rep.Paged++
		} else if len(odd) < 10 {
			odd = append(odd, fmt.Sprintf("%s %v (owner before the kill: %s)", m, byMonitor[m], ownerBefore(cfg.Dir, agents, m)))
		}
	}
	if len(odd) > 0 {
		fmt.Fprintf(out, "# paged again after the kill: %s\n", strings.Join(odd, "; "))
	}
	fmt.Fprintf(out, "# SIGKILL of %s: the survivors owned every monitor after %v (failure detection and recompute), %.0f moved; in the next interval they served %.1f %% of the due checks; %.0f incidents taken over; %d of %d failing monitors sent no second code after the kill (%d had more than one yellow or red before it, from the start, as the ring formed)\n",
		victim.name, rep.Detected.Round(100*time.Millisecond), rep.Moved, 100*rep.ServedAfter, rep.Adopted, rep.Paged, rep.Bad, rep.StartDoubled)

	lostBefore := sum(survivors, "cpra_cluster_ownership_changes_total", "direction", "lost")
	back := time.Now()
	if err := start(victim); err != nil {
		return nil, err
	}
	if err := waitUntil("the returned replica to own its share", 2*time.Minute, func() bool {
		return value(victim, "cpra_cluster_owned_monitors") > 0 &&
			sum(agents, "cpra_cluster_owned_monitors") == float64(cfg.Monitors)
	}); err != nil {
		return nil, err
	}
	rep.Back = time.Since(back)
	rep.OwnedAfterBack = value(victim, "cpra_cluster_owned_monitors")
	rep.MovedBack = sum(survivors, "cpra_cluster_ownership_changes_total", "direction", "lost") - lostBefore
	checks0 = sum(agents, "cpra_checks_total")
	time.Sleep(cfg.Interval)
	rep.DoubleChecksMax = (sum(agents, "cpra_checks_total") - checks0) / float64(cfg.Monitors)
	fmt.Fprintf(out, "# restarted: it owned %.0f monitors %v after its start, %.0f moved back; in the next interval all replicas served %.1f %% of the due checks (above 100: checks doubled while the ring converged)\n",
		rep.OwnedAfterBack, rep.Back.Round(100*time.Millisecond), rep.MovedBack, 100*rep.DoubleChecksMax)
	return rep, nil
}

// codesByMonitor counts the codes in the log notifier's file, by monitor
// and code.
func codesByMonitor(path string) map[string]map[string]int {
	out := map[string]map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m, c := jsonField(line, "monitor"), jsonField(line, "code")
		if m == "" || c == "" {
			continue
		}
		if out[m] == nil {
			out[m] = map[string]int{}
		}
		out[m][c]++
	}
	return out
}

// jsonField is a string field of a flat JSON line, without decoding it all.
func jsonField(line, key string) string {
	_, rest, ok := strings.Cut(line, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// scrapeValue sums the series of name with the given labels on url.
func scrapeValue(ctx context.Context, c *http.Client, url, name string, labels ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	f := fams[name]
	if f == nil {
		return 0, nil
	}
	sum := 0.0
series:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				continue series
			}
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum, nil
}

// ownerBefore names the replica whose log says it sent the monitor's
// codes first.
func ownerBefore(dir string, agents []*clusterAgent, monitor string) string {
	var who []string
	for _, a := range agents {
		data, err := os.ReadFile(filepath.Join(dir, a.name+".log"))
		if err == nil && strings.Contains(string(data), `monitor=`+monitor+` `) {
			who = append(who, a.name)
		}
	}
	return strings.Join(who, ",")
}
