package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/pflag"

	"github.com/cpra-agent/cpra-agent/agent/amwebhook"
	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/example"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/hostconns"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Main is the whole program: cmd/cpra-agent only calls it. It returns when
// ctx ends (or SIGTERM/SIGINT arrives) and everything has drained.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := config.NewFlags("cpra-agent")
	flags.Set.SetOutput(stderr)
	if err := flags.Set.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w (cpra-agent --help lists the flags)", err)
	}
	if flags.Version {
		b := telemetry.Build()
		fmt.Fprintf(stdout, "cpra-agent, version %s (revision: %s)\n  go version: %s\n  platform: %s/%s\n",
			b.Version, b.Revision, b.GoVersion, runtime.GOOS, runtime.GOARCH)
		return nil
	}
	if flags.Help {
		fmt.Fprintln(stdout, "Usage of cpra-agent:")
		flags.Set.SetOutput(stdout)
		flags.Set.PrintDefaults()
		return nil
	}
	cfg, err := config.LoadAgent(flags, os.Environ())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	// In a container, keep the heap under 90 % of the cgroup's memory limit
	// (GOMEMLIMIT, unless set; AUTOMEMLIMIT=off disables it), so the
	// garbage collector works harder before the kernel kills the agent.
	_, _ = memlimit.Set(memlimit.WithLogger(log.With("component", "memlimit")),
		memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup))
	m := telemetry.NewMetrics()
	conns, err := hostconns.New(hostconns.Config{
		Min: cfg.Connections.MinPerHost, Max: cfg.Connections.MaxPerHost, Headroom: cfg.Connections.Headroom,
		Budget: pipeline.OpenFilesBudget(),
	}, m.Registry)
	if err != nil {
		return err
	}
	kinds, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(),
		kind.Deps{Logger: log, Registerer: m.Registry, Clock: clock.Real, Stdout: stdout, HostConns: conns})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Catch SIGHUP from the start: its default action would kill the agent
	// while it is still loading. Reloads wait until it is running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	source, err := monitorSource(ctx, cfg.MonitorsFile, log)
	if err != nil {
		return err
	}
	if flags.ConfigCheck {
		return check(cfg, kinds, source, stdout)
	}

	m.InitSeries()
	tracing, err := telemetry.NewTracing(ctx, os.Getenv, telemetry.TracingOptions{RoutineRatio: cfg.Tracing.RoutineCheckSampleRatio})
	if err != nil {
		return err
	}
	defer func() {
		// Export what is buffered: the incidents closed at shutdown too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(ctx); err != nil {
			log.Warn("exporting the last traces failed", "err", err)
		}
	}()
	if tracing.Enabled {
		log.Info("tracing enabled: one trace per incident", "routine_check_sample_ratio", cfg.Tracing.RoutineCheckSampleRatio)
	}
	if cfg.MonitorsFile == "" && cfg.Storage.Path == config.DefaultAgent().Storage.Path {
		// The embedded example keeps its state in a directory of its own,
		// removed at exit: a second `make run` starts the demo afresh
		// instead of restoring the last one's incidents.
		dir, err := os.MkdirTemp("", "cpra-agent-example-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Storage.Path = dir
		log.Info("embedded example: its state is kept in a temporary directory, removed at exit", "dir", dir)
	}
	if cfg.Storage.Path != "" {
		// One agent per state directory: a second one would load the
		// first's incidents and resolve its alerts.
		dir, err := state.Lock(cfg.Storage.Path)
		if err != nil {
			return err
		}
		defer dir.Release()
	}
	a, err := New(cfg, kinds, source, m, tracing, log)
	if err != nil {
		return err
	}
	// Listen before anything runs or loads: a busy port is an error at
	// once, and a million monitors take seconds to parse and place while
	// /metrics and /-/healthy should answer from the start (/-/ready says
	// 503 until the first configuration is applied).
	servers, err := a.serve(cfg, log)
	closeServers := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
	}
	if err != nil {
		closeServers()
		return err
	}
	b := telemetry.Build()
	log.Info("starting cpra-agent", "version", b.Version, "revision", b.Revision, "go", b.GoVersion,
		"monitors", source.Name, "shard", fmt.Sprintf("%d/%d", cfg.Shard.Index, cfg.Shard.Count))

	// The owner stops when ctx ends, after the cluster (if any) handed its
	// incidents over and left: that needs the owner still running.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	var leaveCluster atomic.Pointer[func()]
	stopOnSignal := context.AfterFunc(ctx, func() {
		if leave := leaveCluster.Load(); leave != nil {
			(*leave)()
		}
		stopRun()
	})
	defer stopOnSignal()
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(runCtx) }()
	if cfg.Cluster.Enabled() {
		leave, err := startCluster(ctx, cfg, a, m.Registry, log)
		if err != nil {
			closeServers()
			stopRun()
			<-runDone
			return err
		}
		leaveCluster.Store(&leave)
	}
	if err := a.Reload(ctx); err != nil {
		closeServers()
		stopRun()
		<-runDone
		return fmt.Errorf("initial configuration: %w", err)
	}
	a.ready.Store(true)
	log.Info("ready", "monitors", source.Name)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading")
			_ = a.Reload(ctx) // failures are logged and exported; the running set stays
		case err := <-runDone:
			closeServers()
			return err
		}
	}
}

// monitorSource is the --yaml file, or the embedded example with its demo
// service when no file is given.
func monitorSource(ctx context.Context, path string, log *slog.Logger) (Source, error) {
	if path != "" {
		// Fail before anything starts, not after the agent said it did.
		// (Stat, not open: opening a named pipe would wait for its writer.)
		if _, err := os.Stat(path); err != nil {
			return Source{}, fmt.Errorf("monitor file: %w", err)
		}
		return Source{Name: path, Read: func() ([]byte, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read monitor file: %w", err)
			}
			return data, nil
		}}, nil
	}
	demo, err := example.Start(ctx, example.DefaultSchedule)
	if err != nil {
		return Source{}, err
	}
	log.Info("no --yaml given: running the embedded example against a demo service", "demo", "http://"+demo.Addr)
	data := example.Monitors(demo.Addr)
	return Source{Name: "embedded-example.yaml", Read: func() ([]byte, error) { return data, nil }}, nil
}

// check implements --config.check.
func check(cfg config.Agent, kinds *config.Kinds, source Source, stdout io.Writer) error {
	data, err := source.Read()
	if err != nil {
		return err
	}
	// Parsed, not built: a check opens, creates and starts nothing.
	ms, err := config.ParseMonitors(source.Name, data, kinds, nil)
	if err != nil {
		return err
	}
	if _, err := validateWeb(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d monitors OK\n", source.Name, len(ms.Monitors))
	if sh := cfg.Shard; sh.Count > 1 {
		fmt.Fprintf(stdout, "shard %d of %d owns %d of them\n", sh.Index, sh.Count, len(sh.Keep(ms.Monitors)))
	}
	fmt.Fprintln(stdout, "agent configuration OK")
	return nil
}

// validateWeb checks the web config and the webhook's credentials, and
// says how the webhook authenticates; --config.check and start-up share it.
func validateWeb(cfg config.Agent) (webhookAuth string, err error) {
	if cfg.Web.ConfigFile != "" {
		if err := web.Validate(cfg.Web.ConfigFile); err != nil {
			return "", fmt.Errorf("web config %s: %w", cfg.Web.ConfigFile, err)
		}
	}
	return amwebhook.CheckConfig(cfg)
}

// serve starts the web endpoints (through exporter-toolkit, for TLS and
// basic auth) and, when enabled, pprof.
func (a *Agent) serve(cfg config.Agent, log *slog.Logger) ([]*http.Server, error) {
	// exporter-toolkit reads the web config inside Serve and would only log
	// a bad one, leaving the agent running without endpoints: check first.
	webhookAuth, err := validateWeb(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := serveWeb(cfg, cfg.Web.ListenAddress, a.handler(), log.With("component", "web"), "listening")
	if err != nil {
		return nil, fmt.Errorf("web.listen-address: %w", err)
	}
	log.Info("Alertmanager webhook", "path", "/api/v1/alertmanager/webhook", "auth", webhookAuth)
	servers := []*http.Server{srv}
	if cfg.Pprof.Enabled {
		// Behind the same web config: profiles show memory and command lines.
		psrv, err := serveWeb(cfg, cfg.Pprof.Addr, pprofHandler(), log.With("component", "pprof"), "pprof listening")
		if err != nil {
			return servers, fmt.Errorf("pprof.addr: %w", err)
		}
		servers = append(servers, psrv)
	}
	return servers, nil
}

// serveWeb serves h on addr through exporter-toolkit, with the web config's
// TLS and basic auth, at most webLimits.maxConns connections at once.
// It logs msg with the address it listens on.
func serveWeb(cfg config.Agent, addr string, h http.Handler, log *slog.Logger, msg string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := newWebServer(h)
	webCfg := cfg.Web.ConfigFile
	systemd := false
	addrs := []string{addr}
	go func() {
		// exporter-toolkit's own info lines ("Listening on", "TLS is
		// disabled") would repeat ours: only its warnings and errors pass.
		err := web.Serve(netutil.LimitListener(ln, webLimits.maxConns), srv,
			&web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &webCfg},
			slog.New(atLeast{log.Handler(), slog.LevelWarn}))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("web server stopped", "err", err)
		}
	}()
	log.Info(msg, "address", ln.Addr().String(), "web_config", cmp.Or(webCfg, "none (plain HTTP, no authentication)"))
	return srv, nil
}

// atLeast passes records of level min and above to h.
type atLeast struct {
	h   slog.Handler
	min slog.Level
}

func (a atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= a.min && a.h.Enabled(ctx, l)
}
func (a atLeast) Handle(ctx context.Context, r slog.Record) error { return a.h.Handle(ctx, r) }
func (a atLeast) WithAttrs(as []slog.Attr) slog.Handler           { return atLeast{a.h.WithAttrs(as), a.min} }
func (a atLeast) WithGroup(g string) slog.Handler                 { return atLeast{a.h.WithGroup(g), a.min} }
