package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/example"
)

// options are the command line.
type options struct {
	agent, prometheus, alertmanager string // binaries
	agentAddr, promAddr, amAddr     string
	repo                            string // where deploy/ and alerting-rules/ are
	dir                             string // work directory; empty: a temporary one
}

func main() {
	var o options
	flag.StringVar(&o.agent, "agent", "bin/cpra-agent", "cpra-agent binary")
	flag.StringVar(&o.prometheus, "prometheus", "prometheus", "Prometheus binary")
	flag.StringVar(&o.alertmanager, "alertmanager", "prometheus-alertmanager", "Alertmanager binary (or alertmanager)")
	flag.StringVar(&o.agentAddr, "agent-addr", "127.0.0.1:9469", "agent's listen address")
	flag.StringVar(&o.promAddr, "prometheus-addr", "127.0.0.1:9090", "Prometheus's listen address")
	flag.StringVar(&o.amAddr, "alertmanager-addr", "127.0.0.1:9093", "Alertmanager's listen address")
	flag.StringVar(&o.repo, "repo", ".", "the repository: deploy/ and alerting-rules/ are read from it")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a temporary one, removed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cpra-demostack:", err)
		os.Exit(1)
	}
}

// run starts the stack, prints its URLs, and stops it when ctx ends.
func run(ctx context.Context, o options, out io.Writer) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "cpra-demostack-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	} else if err := os.MkdirAll(o.dir, 0o750); err != nil {
		return err
	}
	if _, err := exec.LookPath(o.alertmanager); err != nil && o.alertmanager == "prometheus-alertmanager" {
		o.alertmanager = "alertmanager"
	}
	demo, err := example.Start(ctx, example.DefaultSchedule)
	if err != nil {
		return err
	}
	defer demo.Close()
	people, err := pager(ctx, out)
	if err != nil {
		return err
	}
	if err := writeConfigs(o, demo.Addr, people); err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() { stopAll(procs) }()
	for _, p := range []struct {
		bin  string
		args []string
	}{
		{o.alertmanager, []string{"--config.file=" + o.path("alertmanager.yml"), "--storage.path=" + o.path("alertmanager-data"),
			"--web.listen-address=" + o.amAddr, "--cluster.listen-address=", "--log.level=warn"}},
		{o.prometheus, []string{"--config.file=" + o.path("prometheus.yml"), "--storage.tsdb.path=" + o.path("prometheus-data"),
			"--web.listen-address=" + o.promAddr, "--log.level=warn"}},
		{o.agent, []string{"--yaml=" + o.path("monitors.yaml"), "--config=" + o.path("agent.yaml"),
			"--web.listen-address=" + o.agentAddr, "--storage.path=" + o.path("agent-state")}},
	} {
		cmd := exec.Command(p.bin, p.args...)
		log, err := os.Create(o.path(filepath.Base(p.bin) + ".log"))
		if err != nil {
			return err
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w (make demo-stack installs Prometheus and Alertmanager when root)", p.bin, err)
		}
		procs = append(procs, cmd)
	}
	fmt.Fprintf(out, "cpra-agent:   http://%s/metrics\nPrometheus:   http://%s/alerts\nAlertmanager: http://%s/#/alerts\nlogs in %s; Ctrl-C stops everything\n",
		o.agentAddr, o.promAddr, o.amAddr, o.dir)
	<-ctx.Done()
	return nil
}

func (o options) path(name string) string { return filepath.Join(o.dir, name) }

// writeConfigs writes the three configurations and the shared token.
func writeConfigs(o options, demoAddr, peopleURL string) error {
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	files := map[string]string{"token": hex.EncodeToString(token) + "\n"}
	shipped, err := os.ReadFile(filepath.Join(o.repo, "deploy", "alertmanager", "alertmanager.yml"))
	if err != nil {
		return err
	}
	files["alertmanager.yml"] = strings.NewReplacer(
		"http://cpra-agent:9469", "http://"+o.agentAddr,
		"/etc/alertmanager/cpra-agent-token", o.path("token"),
		"http://pager.example.internal/alertmanager", peopleURL,
		"group_wait: 30s", "group_wait: 1s",
		"group_interval: 5m", "group_interval: 10s",
	).Replace(string(shipped))
	// The example's monitors, with red and green to Alertmanager, and every
	// monitor opted in to per-monitor series (the demo rule reads them).
	mons := regexp.MustCompile(`(?m)^(\s+)red:\s+\{[^}]*\}\}$`).ReplaceAllString(string(example.Monitors(demoAddr)),
		fmt.Sprintf("${1}red: {notify: alertmanager, config: {url: \"http://%s\", resend_interval: 10s}}\n${1}green: {notify: alertmanager, config: {url: \"http://%s\", resend_interval: 10s}}", o.amAddr, o.amAddr))
	files["monitors.yaml"] = mons + "metrics:\n  groups: [demo]\n"
	files["agent.yaml"] = fmt.Sprintf("alertmanager_webhook: {bearer_token_file: %q}\n", o.path("token"))
	rules, _ := filepath.Glob(filepath.Join(o.repo, "alerting-rules", "*.rules.yml"))
	files["demo.rules.yml"] = `groups:
  - name: demo
    rules:
      # An alert about one of the agent's monitors, from your side: it names
      # the monitor in cpra_monitor, so Alertmanager sends it into the agent.
      - alert: DemoDatabaseDown
        expr: cpra_monitor_up{monitor="demo-db"} == 0
        labels: {cpra_monitor: demo-db, severity: warning}
        annotations: {summary: "demo-db does not answer"}
`
	files["prometheus.yml"] = fmt.Sprintf(`global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: cpra-agent
    static_configs: [{targets: [%q]}]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
rule_files: %s
`, o.agentAddr, o.amAddr, jsonList(append(rules, o.path("demo.rules.yml"))))
	for name, content := range files {
		if err := os.WriteFile(o.path(name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pager is the "people" receiver: it prints what Alertmanager pages with.
func pager(ctx context.Context, out io.Writer) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var p struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if json.NewDecoder(r.Body).Decode(&p) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, a := range p.Alerts {
			fmt.Fprintf(out, "page: %s %s %s %s\n", a.Status, a.Labels["alertname"], a.Labels["monitor"]+a.Labels["cpra_monitor"], a.Labels["code"])
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/", nil
}

// stopAll stops the processes, the agent first, and waits for them.
func stopAll(procs []*exec.Cmd) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case err := <-done:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				fmt.Fprintln(os.Stderr, "cpra-demostack:", p.Path, err)
			}
		case <-time.After(30 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}
