package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// loadAgent writes file (when not empty) to a temporary agent config,
// parses args after --config and loads with env as the environment. It
// returns the file's path so that tests can take it out of messages.
func loadAgent(t *testing.T, file string, env []string, args ...string) (config.Agent, string, error) {
	t.Helper()
	f := config.NewFlags("cpra-agent")
	var path string
	if file != "" {
		path = filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	if err := f.Set.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	cfg, err := config.LoadAgent(f, env)
	return cfg, path, err
}

func TestLoadAgentDefaults(t *testing.T) {
	cfg, _, err := loadAgent(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := config.DefaultAgent(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant the defaults %+v", cfg, want)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Errorf("the defaults are invalid: %v", errs)
	}
}

func TestLoadAgentPrecedence(t *testing.T) {
	const file = `
web: {listen_address: "127.0.0.1:1001"}
log: {level: warn}
shard: {count: 4, index: 1}
shutdown_timeout: 45s
`
	fileEnv := []string{
		"CPRA_WEB_LISTEN_ADDRESS=127.0.0.1:1002",
		"CPRA_LOG_LEVEL=error",
		"CPRA_SHARD_INDEX=2",
		"CPRA_SHUTDOWN_TIMEOUT=1m",
	}
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want func(*config.Agent) // applied to the defaults
	}{
		{"defaults", "", nil, nil, func(*config.Agent) {}},
		{"file over defaults", file, nil, nil, func(a *config.Agent) {
			a.Web.ListenAddress = "127.0.0.1:1001"
			a.Log.Level = "warn"
			a.Shard = config.Shard{Count: 4, Index: 1}
			a.ShutdownTimeout = 45 * time.Second
		}},
		{"environment over file", file, fileEnv, nil, func(a *config.Agent) {
			a.Web.ListenAddress = "127.0.0.1:1002"
			a.Log.Level = "error"
			a.Shard = config.Shard{Count: 4, Index: 2}
			a.ShutdownTimeout = time.Minute
		}},
		{"flags over environment and file", file, fileEnv, []string{"--web.listen-address=127.0.0.1:1003", "--log.level=info", "--shard.index=3"}, func(a *config.Agent) {
			a.Web.ListenAddress = "127.0.0.1:1003"
			a.Log.Level = "info"
			a.Shard = config.Shard{Count: 4, Index: 3}
			a.ShutdownTimeout = time.Minute
		}},
		{"a flag set to its default still wins", "", []string{"CPRA_WEB_LISTEN_ADDRESS=127.0.0.1:1002"}, []string{"--web.listen-address=:9469"}, func(*config.Agent) {}},
		{"environment over defaults", "", []string{"CPRA_SHARD_COUNT=2", "CPRA_PPROF_ENABLED=true", "CPRA_SCHEDULER_TICK=5ms"}, nil, func(a *config.Agent) {
			a.Shard.Count = 2
			a.Pprof.Enabled = true
			a.Scheduler.Tick = 5 * time.Millisecond
		}},
		{"variables without the CPRA_ prefix are ignored", "", []string{"PATH=/usr/bin", "CPRA=1", "CPRAX_LOG_LEVEL=debug", "cpra_log_level=debug"}, nil, func(*config.Agent) {}},
		{"--debug over the file and the environment", file, []string{"CPRA_LOG_LEVEL=error"}, []string{"--debug"}, func(a *config.Agent) {
			a.Web.ListenAddress = "127.0.0.1:1001"
			a.Log.Level = "debug"
			a.Shard = config.Shard{Count: 4, Index: 1}
			a.ShutdownTimeout = 45 * time.Second
		}},
		{"--debug=false changes nothing", "", []string{"CPRA_LOG_LEVEL=warn"}, []string{"--debug=false"}, func(a *config.Agent) {
			a.Log.Level = "warn"
		}},
		{"--yaml sets the monitor file", "monitors_file: /etc/cpra/from-file.yaml\n", []string{"CPRA_MONITORS_FILE=/etc/cpra/from-env.yaml"}, []string{"--yaml", "monitors.yaml"}, func(a *config.Agent) {
			a.MonitorsFile = "monitors.yaml"
		}},
		{"every flag", "", nil, []string{
			"--yaml=m.yaml", "--web.listen-address=127.0.0.1:0", "--web.config.file=web.yml",
			"--log.level=warn", "--log.format=json", "--pprof", "--pprof.addr=127.0.0.1:6061",
			"--shard.count=3", "--shard.index=2",
		}, func(a *config.Agent) {
			a.MonitorsFile = "m.yaml"
			a.Web = config.Web{ListenAddress: "127.0.0.1:0", ConfigFile: "web.yml"}
			a.Log = config.Log{Level: "warn", Format: "json"}
			a.Pprof = config.Pprof{Enabled: true, Addr: "127.0.0.1:6061"}
			a.Shard = config.Shard{Count: 3, Index: 2}
		}},
		{"nested file sections", `
pipelines:
  pulse: {queue: {capacity: 100}, workers: {min: 2, max: 10}}
  code:
    workers: {max: 200}
codes: {initial_backoff: 500ms, max_backoff: 2m, max_age: 1d, attempt_timeout: 10s}
scheduler: {tick: 20ms}
`, []string{"CPRA_PIPELINES_INTERVENTION_WORKERS_MAX=16", "CPRA_CODES_MAX_AGE=2h"}, nil, func(a *config.Agent) {
			a.Pipelines.Pulse.Queue.Capacity = 100
			a.Pipelines.Pulse.Workers = config.Workers{Min: 2, Max: 10}
			a.Pipelines.Code.Workers.Max = 200
			a.Pipelines.Intervention.Workers.Max = 16
			a.Codes = config.CodeDelivery{InitialBackoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Minute, MaxAge: 2 * time.Hour, AttemptTimeout: 10 * time.Second, PerDestination: 32}
			a.Scheduler.Tick = 20 * time.Millisecond
		}},
		{"the engine keys of the issue's example", `
pipelines:
  pulse:
    queue:   {capacity: 4096, high_water: 0.9, low_water: 0.25}
    workers: {min: 4, max: 500}
    sizing:  {slo: 50ms, quantile: 0.99, headroom: 0.3, interval: 2s}
    breaker: {failure_threshold: 3, open_timeout: 10s, half_open_requests: 2}
`, []string{"CPRA_PIPELINES_CODE_QUEUE_HIGH_WATER=0.7", "CPRA_PIPELINES_CODE_SIZING_HEADROOM=1"}, nil, func(a *config.Agent) {
			a.Pipelines.Pulse = config.Pipeline{
				Queue:   config.Queue{Capacity: 4096, HighWater: 0.9, LowWater: 0.25},
				Workers: config.Workers{Min: 4, Max: 500},
				Sizing:  config.Sizing{SLO: 50 * time.Millisecond, Quantile: 0.99, Headroom: 0.3, Interval: 2 * time.Second},
				Breaker: config.Breaker{FailureThreshold: 3, FailureRatio: 0.8, Window: 30 * time.Second, OpenTimeout: 10 * time.Second, HalfOpenRequests: 2},
			}
			a.Pipelines.Code.Queue.HighWater = 0.7
			a.Pipelines.Code.Sizing.Headroom = 1
		}},
		{"per-monitor series limit from the file", "metrics: {per_monitor_limit: 50}\n", nil, nil, func(a *config.Agent) {
			a.Metrics.PerMonitorLimit = 50
		}},
		{"per-monitor series off from the environment", "metrics: {per_monitor_limit: 50}\n", []string{"CPRA_METRICS_PER_MONITOR_LIMIT=0"}, nil, func(a *config.Agent) {
			a.Metrics.PerMonitorLimit = 0
		}},
		{"an empty value keeps the default", "log:\n  level:\nweb: {}\n", nil, nil, func(*config.Agent) {}},
		{"dotted keys in the file", "web.listen_address: 127.0.0.1:1004\n", nil, nil, func(a *config.Agent) {
			a.Web.ListenAddress = "127.0.0.1:1004"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := loadAgent(t, tt.file, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			want := config.DefaultAgent()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadAgentErrors(t *testing.T) {
	const unknownEnv = "environment: unknown variable CPRA_WEB_LISTEN (known: CPRA_ALERTMANAGER_WEBHOOK_BEARER_TOKEN_FILE, "
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		// want lists the error's lines; FILE stands for the config file's
		// path and a trailing "..." matches any rest of the line.
		want []string
	}{
		{"unknown key in the file", "web: {listen_adress: 127.0.0.1:9000}\n", nil, nil, []string{
			"agent config: web.listen_adress: unknown key (known in web: config_file, listen_address) (from FILE)",
		}},
		{"unknown top-level key", "listen_address: :9000\n", nil, nil, []string{
			"agent config: listen_address: unknown key (known: alertmanager_webhook, cluster, codes, connections, log, metrics, monitors_file, pipelines, pprof, scheduler, shard, shutdown_timeout, storage, tracing, web) (from FILE)",
		}},
		{"unknown section", "pipelines: {dns: {workers: {max: 3}}}\n", nil, nil, []string{
			"agent config: pipelines.dns.workers.max: unknown key (known in pipelines: code, intervention, pulse) (from FILE)",
		}},
		{"a section given a value", "web: :9000\n", nil, nil, []string{
			"agent config: web: expected a mapping with keys config_file, listen_address (from FILE)",
		}},
		{"unknown environment variable", "", []string{"CPRA_WEB_LISTEN=:9000"}, nil, []string{unknownEnv + "..."}},
		{"invalid values are reported together", `
shard: {count: 2, index: 2}
log: {level: bogus}
pipelines: {pulse: {workers: {min: 10, max: 5}}}
`, nil, nil, []string{
			`agent config: log.level: must be one of debug, info, warn, error; got "bogus"`,
			"agent config: pipelines.pulse.workers.max: must be at least workers.min (10), got 5",
			"agent config: shard.index: must be between 0 and shard.count-1 (1), got 2",
		}},
		{"invalid engine settings", `
pipelines:
  pulse:
    queue:   {capacity: 0, high_water: 0.5, low_water: 0.6}
    sizing:  {slo: 0s, quantile: 1, headroom: -0.1, interval: 10ms}
    breaker: {failure_threshold: 0, open_timeout: 0s, half_open_requests: 0}
  code:
    queue: {high_water: 1.5, low_water: -1}
    workers: {max: 2000000}
`, []string{"CPRA_PIPELINES_INTERVENTION_QUEUE_LOW_WATER=half"}, nil, []string{
			`agent config: pipelines.intervention.queue.low_water: expected a number, got "half" (from CPRA_PIPELINES_INTERVENTION_QUEUE_LOW_WATER)`,
			"agent config: pipelines.code.queue.high_water: must be a fraction of the capacity in (0, 1], got 1.5",
			"agent config: pipelines.code.queue.low_water: must be a fraction of the capacity in [0, 1), got -1",
			"agent config: pipelines.code.workers.max: must be at most 1000000, got 2000000",
			"agent config: pipelines.pulse.breaker.failure_threshold: must be at least 1, got 0",
			"agent config: pipelines.pulse.breaker.half_open_requests: must be at least 1, got 0",
			"agent config: pipelines.pulse.breaker.open_timeout: must be greater than zero, got 0s",
			"agent config: pipelines.pulse.queue.capacity: must be between 1 and 16777216, got 0",
			"agent config: pipelines.pulse.queue.low_water: must be below queue.high_water (0.5), got 0.6",
			"agent config: pipelines.pulse.sizing.headroom: must be a fraction between 0 and 10, got -0.1",
			"agent config: pipelines.pulse.sizing.interval: must be at least 100ms, got 10ms",
			"agent config: pipelines.pulse.sizing.quantile: must be in [0, 1) (0 sizes for the mean wait), got 1",
			"agent config: pipelines.pulse.sizing.slo: must be greater than zero, got 0s",
		}},
		{"shard index from a flag", "shard: {count: 2}\n", nil, []string{"--shard.index=2"}, []string{
			"agent config: shard.index: must be between 0 and shard.count-1 (1), got 2",
		}},
		{"negative per-monitor series limit", "metrics: {per_monitor_limit: -1}\n", nil, nil, []string{
			"agent config: metrics.per_monitor_limit: must be at least 0 (0 turns per-monitor series off), got -1",
		}},
		{"webhook request limit", "alertmanager_webhook: {max_request_bytes: 100, bearer_token: s3cret}\n", nil, nil, []string{
			"agent config: alertmanager_webhook.bearer_token: unknown key (known in alertmanager_webhook: bearer_token_file, max_relayed_alerts, max_request_bytes) (from FILE)",
			"agent config: alertmanager_webhook.max_request_bytes: must be between 1024 and 1073741824 (1 KiB and 1 GiB), got 100",
		}},
		{"shard count zero", "", []string{"CPRA_SHARD_COUNT=0"}, nil, []string{
			"agent config: shard.count: must be at least 1, got 0",
		}},
		{"log format and level from the environment", "", []string{"CPRA_LOG_FORMAT=text", "CPRA_LOG_LEVEL=trace"}, nil, []string{
			`agent config: log.format: must be logfmt or json; got "text"`,
			`agent config: log.level: must be one of debug, info, warn, error; got "trace"`,
		}},
		{"wrong types name their source", "shard: {count: two}\npprof: {enabled: maybe}\nweb: {listen_address: [a]}\n", []string{"CPRA_SHARD_INDEX=first"}, nil, []string{
			`agent config: pprof.enabled: expected true or false, got "maybe" (from FILE)`,
			`agent config: shard.count: expected an integer, got "two" (from FILE)`,
			`agent config: shard.index: expected an integer, got "first" (from CPRA_SHARD_INDEX)`,
			`agent config: web.listen_address: expected a string, got a list (from FILE)`,
		}},
		{"durations need a unit", "shutdown_timeout: 45\nscheduler: {tick: 1.5}\n", nil, nil, []string{
			"agent config: scheduler.tick: expected a duration with a unit such as 30s, got 1.5 (from FILE)",
			"agent config: shutdown_timeout: expected a duration with a unit such as 30s, got 45 (from FILE)",
		}},
		{"unparsable durations", "shutdown_timeout: soon\n", []string{"CPRA_CODES_MAX_AGE=-1h"}, nil, []string{
			`agent config: codes.max_age: negative duration "-1h" (from CPRA_CODES_MAX_AGE)`,
			`agent config: shutdown_timeout: invalid duration "soon" (use a number and a unit: ms, s, m, h, d) (from FILE)`,
			// and no "must be greater than zero" about the values that did not parse
		}},
		{"code delivery", "codes: {initial_backoff: 10s, max_backoff: 5s, attempt_timeout: 0s}\nscheduler: {tick: 2s}\nshutdown_timeout: 0s\n", nil, nil, []string{
			"agent config: codes.attempt_timeout: must be greater than zero",
			"agent config: codes.max_backoff: must be at least codes.initial_backoff (10s), got 5s",
			"agent config: scheduler.tick: must be between 1ns and 1s, got 2s",
			"agent config: shutdown_timeout: must be greater than zero",
		}},
		{"every kind of problem at once", "web: {listen_adress: x}\nlog: {level: loud}\n", []string{"CPRA_WEB_LISTEN=:9000", "CPRA_SHARD_COUNT=many"}, []string{"--shard.index=-1"}, []string{
			unknownEnv + "...",
			"agent config: shard.count: expected an integer, got \"many\" (from CPRA_SHARD_COUNT)",
			"agent config: web.listen_adress: unknown key (known in web: config_file, listen_address) (from FILE)",
			`agent config: log.level: must be one of debug, info, warn, error; got "loud"`,
			"agent config: shard.index: must be between 0 and shard.count-1 (0), got -1",
		}},
		{"YAML syntax error", "web:\n  listen_address: :9000\n bad\n", nil, nil, []string{
			// The parser's own words; its line is not always the mistake's.
			"agent config FILE: yaml: line ...",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := loadAgent(t, tt.file, tt.env, tt.args...)
			if err == nil {
				t.Fatal("loaded without error")
			}
			msg := err.Error()
			if path != "" {
				msg = strings.ReplaceAll(msg, path, "FILE")
			}
			got := strings.Split(msg, "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), msg)
			}
			for i, want := range tt.want {
				if prefix, ok := strings.CutSuffix(want, "..."); ok {
					if !strings.HasPrefix(got[i], prefix) {
						t.Errorf("error %d:\n got %s\nwant %s", i, got[i], want)
					}
				} else if got[i] != want {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], want)
				}
			}
		})
	}
}

func TestLoadAgentMissingFile(t *testing.T) {
	f := config.NewFlags("cpra-agent")
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	if err := f.Set.Parse([]string{"--config", missing}); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadAgent(f, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("got %v, want a not-exist error naming %s", err, missing)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// TestUnknownVariableListsKnown checks that the list of known variables in
// the unknown-variable message is complete: each one it names is accepted.
func TestUnknownVariableListsKnown(t *testing.T) {
	_, _, err := loadAgent(t, "", []string{"CPRA_NOPE=1"})
	if err == nil {
		t.Fatal("CPRA_NOPE accepted")
	}
	_, list, ok := strings.Cut(err.Error(), "(known: ")
	if !ok {
		t.Fatalf("no list of known variables in %q", err)
	}
	names := strings.Split(strings.TrimSuffix(list, ")"), ", ")
	if len(names) < 20 {
		t.Fatalf("only %d known variables: %v", len(names), names)
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "CPRA_") {
			t.Errorf("%q does not start with CPRA_", name)
			continue
		}
		// A value of the wrong type is a different error from an unknown variable.
		_, _, err := loadAgent(t, "", []string{name + "=x"})
		if err != nil && strings.Contains(err.Error(), "unknown variable") {
			t.Errorf("%s is listed as known but rejected: %v", name, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"web.listen_address":                "CPRA_WEB_LISTEN_ADDRESS",
		"monitors_file":                     "CPRA_MONITORS_FILE",
		"pipelines.pulse.workers.max":       "CPRA_PIPELINES_PULSE_WORKERS_MAX",
		"web.listen-address":                "CPRA_WEB_LISTEN_ADDRESS",
		"pipelines.intervention.queue.size": "CPRA_PIPELINES_INTERVENTION_QUEUE_SIZE",
	}
	for key, want := range tests {
		if got := config.EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestNewFlags(t *testing.T) {
	tests := []struct {
		args                    []string
		configFile              string
		configCheck, help, fail bool
	}{
		{args: nil},
		{args: []string{"--config", "agent.yaml", "--config.check"}, configFile: "agent.yaml", configCheck: true},
		{args: []string{"-h"}, help: true},
		{args: []string{"--help"}, help: true},
		{args: []string{"--no-such-flag"}, fail: true},
		{args: []string{"--shard.count=two"}, fail: true},
	}
	for _, tt := range tests {
		f := config.NewFlags("cpra-agent")
		err := f.Set.Parse(tt.args)
		if (err != nil) != tt.fail {
			t.Errorf("%q: error %v, want failure %v", tt.args, err, tt.fail)
			continue
		}
		if tt.fail {
			continue
		}
		if f.ConfigFile != tt.configFile || f.ConfigCheck != tt.configCheck || f.Help != tt.help {
			t.Errorf("%q: ConfigFile %q, ConfigCheck %v, Help %v; want %q, %v, %v",
				tt.args, f.ConfigFile, f.ConfigCheck, f.Help, tt.configFile, tt.configCheck, tt.help)
		}
	}
	// The flag names are part of the public interface (DESIGN.md).
	f := config.NewFlags("cpra-agent")
	for _, name := range []string{
		"yaml", "config", "debug", "pprof", "pprof.addr", "web.listen-address", "web.config.file",
		"config.check", "log.level", "log.format", "shard.count", "shard.index",
	} {
		if f.Set.Lookup(name) == nil {
			t.Errorf("flag --%s is missing", name)
		}
	}
	if got := f.Set.Lookup("pprof.addr").DefValue; !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("--pprof.addr defaults to %q, want a loopback address", got)
	}
}

// The cluster's peers come from a YAML list, a comma-separated variable or
// a repeated flag; the flag wins, as everywhere.
func TestClusterJoin(t *testing.T) {
	file := "cluster:\n  listen_address: 127.0.0.1:7946\n  join: [127.0.0.2:7946, peers.example]\n"
	cfg, _, err := loadAgent(t, file, nil)
	if err != nil || !reflect.DeepEqual(cfg.Cluster.Join, []string{"127.0.0.2:7946", "peers.example"}) || !cfg.Cluster.Enabled() {
		t.Fatalf("from the file: %+v, %v", cfg.Cluster, err)
	}
	cfg, _, err = loadAgent(t, file, []string{"CPRA_CLUSTER_JOIN=127.0.0.3:7946, 127.0.0.4:7946"})
	if err != nil || !reflect.DeepEqual(cfg.Cluster.Join, []string{"127.0.0.3:7946", "127.0.0.4:7946"}) {
		t.Fatalf("from the environment: %+v, %v", cfg.Cluster.Join, err)
	}
	cfg, _, err = loadAgent(t, file, nil, "--cluster.join=127.0.0.5:7946", "--cluster.join", "127.0.0.6:7946")
	if err != nil || !reflect.DeepEqual(cfg.Cluster.Join, []string{"127.0.0.5:7946", "127.0.0.6:7946"}) {
		t.Fatalf("from the flags: %+v, %v", cfg.Cluster.Join, err)
	}
}

func TestClusterErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"join without listening", []string{"--cluster.join=127.0.0.2:7946"},
			"agent config: cluster.listen_address: required with cluster.advertise_address or cluster.join"},
		{"unreachable advertise", []string{"--cluster.listen-address=0.0.0.0:7946"},
			`agent config: cluster.listen_address: peers cannot reach "0.0.0.0:7946": set cluster.advertise_address to an address they can`},
		{"no port", []string{"--cluster.listen-address=127.0.0.1"},
			`agent config: cluster.listen_address: want host:port, got "127.0.0.1"`},
		{"with shards", []string{"--cluster.listen-address=127.0.0.1:7946", "--shard.count=2"},
			"agent config: cluster.listen_address: a cluster shares the monitors by itself: leave shard.count at 1 (got 2)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadAgent(t, "", nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
