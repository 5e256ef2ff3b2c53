package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// Agent is the agent's own configuration (not the monitors).
type Agent struct {
	MonitorsFile    string        `koanf:"monitors_file"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	Web             Web           `koanf:"web"`
	Log             Log           `koanf:"log"`
	Pprof           Pprof         `koanf:"pprof"`
	Shard           Shard         `koanf:"shard"`
	Cluster         Cluster       `koanf:"cluster"`
	Scheduler       Scheduler     `koanf:"scheduler"`
	Pipelines       Pipelines     `koanf:"pipelines"`
	Connections     Connections   `koanf:"connections"`
	Codes           CodeDelivery  `koanf:"codes"`
	Tracing         Tracing       `koanf:"tracing"`
	Metrics         Metrics       `koanf:"metrics"`
	Storage         Storage       `koanf:"storage"`

	AlertmanagerWebhook AlertmanagerWebhook `koanf:"alertmanager_webhook"`
}

// AlertmanagerWebhook configures POST /api/v1/alertmanager/webhook, where
// Alertmanager sends alerts for the agent to dispatch as codes. Where those
// go is the monitor file's business; who may send them is the agent's.
type AlertmanagerWebhook struct {
	// BearerTokenFile holds the token Alertmanager must send as
	// "Authorization: Bearer TOKEN". It is read at start-up (a missing or
	// empty file stops the agent) and again on every request, so a rotated
	// token applies at once. Without it (and without basic auth in the web
	// configuration) the endpoint is disabled.
	BearerTokenFile string `koanf:"bearer_token_file"`
	// MaxRequestBytes bounds a request's body; larger ones are refused
	// with 413. Alertmanager's webhook_config `max_alerts` keeps its
	// requests below it.
	MaxRequestBytes int `koanf:"max_request_bytes"`
	// MaxRelayedAlerts bounds the alerts of the default route whose firing
	// codes the agent holds for a receiver (Alertmanager) and re-sends; a
	// new one beyond it is counted (result overflow) and not dispatched.
	MaxRelayedAlerts int `koanf:"max_relayed_alerts"`
}

// DefaultWebhookMaxRequestBytes is the default
// alertmanager_webhook.max_request_bytes: 1 MiB, about a thousand alerts.
const DefaultWebhookMaxRequestBytes = 1 << 20

// Tracing tunes what is traced. Where traces go is set by the standard
// OTEL_* environment variables; without an endpoint nothing is traced.
type Tracing struct {
	// RoutineCheckSampleRatio is the fraction of routine checks (successful,
	// outside an incident) traced when OTEL_TRACES_SAMPLER is not set.
	// Incidents, failures and engine events are always traced.
	RoutineCheckSampleRatio float64 `koanf:"routine_check_sample_ratio"`
}

// Web configures the HTTP endpoints.
type Web struct {
	ListenAddress string `koanf:"listen_address"`
	ConfigFile    string `koanf:"config_file"` // exporter-toolkit web config (TLS, basic auth)
}

// Log configures logging.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Storage is the state directory: what a restart must not lose (incident
// states, open incidents, what Alertmanager holds, undelivered codes).
type Storage struct {
	// Path is the directory; relative to the working directory. Empty:
	// nothing is kept across restarts.
	Path string `koanf:"path"`
	// Interval is how often the state is written while running; it is
	// written at shutdown too.
	Interval time.Duration `koanf:"interval"`
}

// Pprof configures the profiling endpoint.
type Pprof struct {
	Enabled bool   `koanf:"enabled"`
	Addr    string `koanf:"addr"`
}

// Shard selects this replica's share of the monitors.
type Shard struct {
	Count int `koanf:"count"`
	Index int `koanf:"index"`
}

// Cluster makes replicas one monitoring system over memberlist (package
// cluster). Without a listen address the agent runs alone, as before.
type Cluster struct {
	// ListenAddress is host:port for the peers' gossip (TCP and UDP).
	ListenAddress string `koanf:"listen_address"`
	// AdvertiseAddress is host:port the peers reach this replica at; the
	// listen address when empty.
	AdvertiseAddress string `koanf:"advertise_address"`
	// Name is this replica's name in the cluster, unique and stable across
	// restarts (a StatefulSet pod's name): the ring hashes names, so a
	// replica that comes back under its name gets its monitors back. The
	// host name when empty.
	Name string `koanf:"name"`
	// Join lists peers, host:port; a DNS name joins every address it
	// resolves to (a headless Service). Retried until one answers.
	Join []string `koanf:"join"`
	// The failure detector (memberlist's SWIM): a peer is probed every
	// ProbeInterval, must answer within ProbeTimeout, and is declared dead
	// once suspected for SuspicionMult × log10(members) probe intervals.
	ProbeInterval  time.Duration `koanf:"probe_interval"`
	ProbeTimeout   time.Duration `koanf:"probe_timeout"`
	SuspicionMult  int           `koanf:"suspicion_mult"`
	GossipInterval time.Duration `koanf:"gossip_interval"`
	// SecretKeyFile holds a 16, 24 or 32-byte key (AES-128/192/256) that
	// encrypts the peers' traffic; every replica needs the same.
	SecretKeyFile string `koanf:"secret_key_file"`
}

// Enabled reports whether the agent runs in a cluster.
func (c Cluster) Enabled() bool { return c.ListenAddress != "" }

// Scheduler tunes the timing wheel.
type Scheduler struct {
	Tick time.Duration `koanf:"tick"`
}

// Pipelines sizes the three pipelines.
type Pipelines struct {
	Pulse        Pipeline `koanf:"pulse"`
	Intervention Pipeline `koanf:"intervention"`
	Code         Pipeline `koanf:"code"`
}

// Pipeline configures one pipeline: its queue, pool, sizing and breakers.
type Pipeline struct {
	Queue   Queue   `koanf:"queue"`
	Workers Workers `koanf:"workers"`
	Sizing  Sizing  `koanf:"sizing"`
	Breaker Breaker `koanf:"breaker"`
}

// Queue sizes a pipeline's queue. The water marks are fractions of the
// capacity: at high_water the pipeline refuses new work (backpressure)
// until the depth falls to low_water.
type Queue struct {
	Capacity  int     `koanf:"capacity"`
	HighWater float64 `koanf:"high_water"`
	LowWater  float64 `koanf:"low_water"`
}

// Workers bounds a pipeline's pool; sizing moves it between the two.
type Workers struct {
	Min int `koanf:"min"`
	Max int `koanf:"max"`
}

// Sizing is the worker-sizing policy: every interval, the smallest pool
// whose predicted queue wait at quantile meets slo, plus headroom.
type Sizing struct {
	SLO      time.Duration `koanf:"slo"`
	Quantile float64       `koanf:"quantile"`
	Headroom float64       `koanf:"headroom"`
	Interval time.Duration `koanf:"interval"`
}

// Breaker configures the per-destination circuit breakers.
type Breaker struct {
	// FailureThreshold is the number of consecutive failures that open a
	// destination's breaker; for the pulse pipeline's host breakers, the
	// host-down results within Window needed (see FailureRatio).
	FailureThreshold int `koanf:"failure_threshold"`
	// FailureRatio and Window are the pulse pipeline's: a host's breaker
	// opens when at least FailureThreshold of its checks within Window
	// got no answer from the host, and they are at least FailureRatio of
	// its checks in that window. The other pipelines ignore them.
	FailureRatio     float64       `koanf:"failure_ratio"`
	Window           time.Duration `koanf:"window"`
	OpenTimeout      time.Duration `koanf:"open_timeout"`
	HalfOpenRequests int           `koanf:"half_open_requests"`
}

// Connections bounds the connections checks open to one host (package
// pipelines/pulse/hostconns). Each host's limit follows its measured
// demand (Little's law: its checks per second times the time each spends
// in the target, with headroom) between min_per_host and max_per_host, and
// all hosts together stay within what the open-files limit leaves.
type Connections struct {
	MinPerHost int     `koanf:"min_per_host"`
	MaxPerHost int     `koanf:"max_per_host"` // a monitor's max_connections_per_host may lower it
	Headroom   float64 `koanf:"headroom"`
}

// CodeDelivery is the retry policy for codes.
type CodeDelivery struct {
	InitialBackoff time.Duration `koanf:"initial_backoff"`
	MaxBackoff     time.Duration `koanf:"max_backoff"`
	MaxAge         time.Duration `koanf:"max_age"`
	AttemptTimeout time.Duration `koanf:"attempt_timeout"`
	// PerDestination bounds one receiver's deliveries in the code pipeline
	// (queued or running): its share of the workers and of the queue, so a
	// hung receiver holds only that many workers.
	PerDestination int `koanf:"max_in_flight_per_destination"`
}

// Metrics configures the agent's own metrics.
type Metrics struct {
	// PerMonitorLimit bounds how many monitors that opted in (`metrics:
	// true` in the monitor file) get cpra_monitor_* series; the others are
	// refused and counted. 0 turns per-monitor series off.
	PerMonitorLimit int `koanf:"per_monitor_limit"`
}

// DefaultPerMonitorLimit is the default metrics.per_monitor_limit: enough
// for the monitors someone watches one by one, far from a million series.
const DefaultPerMonitorLimit = 10000

// DefaultAgent is the configuration used when nothing overrides it.
func DefaultAgent() Agent {
	return Agent{
		ShutdownTimeout: 30 * time.Second,
		Web:             Web{ListenAddress: ":9469"},
		Log:             Log{Level: "info", Format: "logfmt"},
		Pprof:           Pprof{Addr: "127.0.0.1:6060"},
		Storage:         Storage{Path: "data", Interval: time.Minute},
		Shard:           Shard{Count: 1},
		// memberlist's LAN defaults: a dead peer is declared within about
		// 5 s in a cluster of a few replicas.
		Cluster: Cluster{ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4,
			GossipInterval: 200 * time.Millisecond},
		Scheduler: Scheduler{Tick: 10 * time.Millisecond},
		Pipelines: Pipelines{
			// Checks are short and plentiful: a deep queue, a wide pool
			// and a tight wait target.
			Pulse: Pipeline{
				Queue:   Queue{Capacity: 65536, HighWater: 0.8, LowWater: 0.5},
				Workers: Workers{Min: 32, Max: 10000}, // a floor that absorbs slowdowns at 16k checks/s (docs/performance.md)
				Sizing:  Sizing{SLO: 100 * time.Millisecond, Quantile: 0.95, Headroom: 0.15, Interval: 5 * time.Second},
				// A host is down when most (80 %) of its own checks get
				// no answer over half a minute: at least 5 of at least 10.
				Breaker: Breaker{FailureThreshold: 5, FailureRatio: 0.8, Window: 30 * time.Second, OpenTimeout: 30 * time.Second, HalfOpenRequests: 1},
			},
			// Interventions are rare and slow (restarts): a small pool, a
			// looser target, and a breaker that backs off longer.
			Intervention: Pipeline{
				Queue:   Queue{Capacity: 1024, HighWater: 0.8, LowWater: 0.5},
				Workers: Workers{Min: 1, Max: 64},
				Sizing:  Sizing{SLO: time.Second, Quantile: 0.95, Headroom: 0.25, Interval: 10 * time.Second},
				Breaker: Breaker{FailureThreshold: 3, OpenTimeout: time.Minute, HalfOpenRequests: 1},
			},
			// Codes are bursty (an outage fans out): room for bursts and
			// a target that keeps alerts prompt.
			Code: Pipeline{
				Queue: Queue{Capacity: 8192, HighWater: 0.8, LowWater: 0.5},
				// The floor is twice a destination's share: a hung receiver
				// leaves the others at least half the workers.
				Workers: Workers{Min: 64, Max: 256},
				Sizing:  Sizing{SLO: 500 * time.Millisecond, Quantile: 0.95, Headroom: 0.25, Interval: 5 * time.Second},
				Breaker: Breaker{FailureThreshold: 5, OpenTimeout: 30 * time.Second, HalfOpenRequests: 1},
			},
		},
		Connections: Connections{MinPerHost: 8, MaxPerHost: 4096, Headroom: 0.25},
		Codes: CodeDelivery{
			InitialBackoff: time.Second,
			MaxBackoff:     time.Minute,
			MaxAge:         time.Hour,
			AttemptTimeout: 30 * time.Second,
			PerDestination: 32,
		},
		Tracing: Tracing{RoutineCheckSampleRatio: 0.01},
		Metrics: Metrics{PerMonitorLimit: DefaultPerMonitorLimit},

		AlertmanagerWebhook: AlertmanagerWebhook{MaxRequestBytes: DefaultWebhookMaxRequestBytes, MaxRelayedAlerts: 10000},
	}
}

// Flags are the command line, parsed.
type Flags struct {
	Set         *pflag.FlagSet
	ConfigFile  string
	ConfigCheck bool
	Help        bool
	Version     bool
}

// NewFlags defines the agent's flags on a new flag set.
func NewFlags(name string) *Flags {
	f := &Flags{Set: pflag.NewFlagSet(name, pflag.ContinueOnError)}
	d := DefaultAgent()
	fs := f.Set
	fs.SortFlags = false
	fs.StringVar(&f.ConfigFile, "config", "", "Agent configuration file (YAML).")
	fs.String("yaml", "", "Monitor file (YAML). Without it the agent runs its embedded example.")
	fs.BoolVar(&f.ConfigCheck, "config.check", false, "Validate the configuration and monitor files, print every error, and exit.")
	fs.String("web.listen-address", d.Web.ListenAddress, "Address for /metrics, health, reload and the API.")
	fs.String("web.config.file", "", "Web configuration file (TLS and basic auth, exporter-toolkit format).")
	fs.String("log.level", d.Log.Level, "Log level: debug, info, warn, error.")
	fs.String("log.format", d.Log.Format, "Log format: logfmt, json.")
	fs.Bool("debug", false, "Shorthand for --log.level=debug.")
	fs.Bool("pprof", false, "Serve pprof profiles on --pprof.addr.")
	fs.String("pprof.addr", d.Pprof.Addr, "Address for pprof (loopback by default).")
	fs.String("storage.path", d.Storage.Path, "State directory: incidents, alerts and undelivered codes survive a restart. Empty disables it.")
	fs.Int("shard.count", d.Shard.Count, "Number of shards the monitors are split across.")
	fs.Int("shard.index", 0, "This replica's shard, from 0 to shard.count-1.")
	fs.String("cluster.listen-address", "", "Address (host:port) for cluster gossip; empty runs the agent alone.")
	fs.String("cluster.advertise-address", "", "Address (host:port) peers reach this replica at; the listen address when empty.")
	fs.String("cluster.name", "", "This replica's unique, stable name in the cluster; the host name when empty.")
	fs.StringArray("cluster.join", nil, "A peer to join (host:port, or a DNS name for every address it resolves to); repeat for more.")
	fs.BoolVarP(&f.Help, "help", "h", false, "Show this help.")
	fs.BoolVar(&f.Version, "version", false, "Print the version and exit.")
	return f
}

// flagKeys maps flag names to configuration keys.
var flagKeys = map[string]string{
	"yaml":               "monitors_file",
	"web.listen-address": "web.listen_address",
	"web.config.file":    "web.config_file",
	"log.level":          "log.level",
	"log.format":         "log.format",
	"pprof":              "pprof.enabled",
	"pprof.addr":         "pprof.addr",
	"storage.path":       "storage.path",
	"shard.count":        "shard.count",
	"shard.index":        "shard.index",

	"cluster.listen-address":    "cluster.listen_address",
	"cluster.advertise-address": "cluster.advertise_address",
	"cluster.join":              "cluster.join",
	"cluster.name":              "cluster.name",
}

// LoadAgent builds the agent configuration: defaults, then the --config
// file, then CPRA_* environment variables, then flags the user set.
// environ is os.Environ in production. Unknown keys in the file, unknown
// CPRA_* variables and invalid values are errors, all reported together,
// each naming the key and where its value came from.
func LoadAgent(f *Flags, environ []string) (Agent, error) {
	cfg := DefaultAgent()
	fields := agentFields(&cfg)
	ko := koanf.New(".")        // every source merged, later ones winning
	from := map[string]string{} // key -> where its value came from
	var errs []error
	merge := func(src *koanf.Koanf, origin func(key string) string) {
		for _, k := range src.Keys() {
			from[k] = origin(k)
		}
		if err := ko.Merge(src); err != nil {
			errs = append(errs, fmt.Errorf("agent config: %w", err))
		}
	}

	if f.ConfigFile != "" {
		if _, err := os.Stat(f.ConfigFile); err != nil {
			return cfg, fmt.Errorf("agent config: %w", err)
		}
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(f.ConfigFile), yaml.Parser()); err != nil {
			return cfg, fmt.Errorf("agent config %s: %w", f.ConfigFile, err)
		}
		merge(fk, func(string) string { return f.ConfigFile })
	}

	known := knownKeys()
	envKey := map[string]string{}
	for _, k := range known {
		envKey[EnvName(k)] = k
	}
	ek := koanf.New(".")
	err := ek.Load(env.Provider(".", env.Opt{
		Prefix:      "CPRA_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			key, ok := envKey[k]
			if !ok {
				errs = append(errs, fmt.Errorf("environment: unknown variable %s (known: %s)", k, knownEnv(known)))
				return "", nil
			}
			return key, v
		},
	}), nil)
	if err != nil {
		errs = append(errs, fmt.Errorf("environment: %w", err))
	}
	merge(ek, EnvName)

	flagOf := map[string]string{}
	fk := koanf.New(".")
	if err := fk.Load(posflag.ProviderWithFlag(f.Set, ".", nil, func(fl *pflag.Flag) (string, any) {
		if fl.Name == "debug" {
			if fl.Changed && fl.Value.String() == "true" {
				flagOf["log.level"] = "--debug"
				return "log.level", "debug"
			}
			return "", nil
		}
		key, ok := flagKeys[fl.Name]
		if !ok || !fl.Changed {
			return "", nil
		}
		flagOf[key] = "--" + fl.Name
		return key, posflag.FlagVal(f.Set, fl)
	}), nil); err != nil {
		errs = append(errs, fmt.Errorf("flags: %w", err))
	}
	merge(fk, func(k string) string { return flagOf[k] })

	for _, k := range ko.Keys() {
		v := ko.Get(k)
		field, ok := fields[k]
		switch {
		case !ok && isSection(k, known):
			if m, isMap := v.(map[string]any); !isMap || len(m) > 0 {
				errs = append(errs, fmt.Errorf("agent config: %s: expected a mapping with keys %s (from %s)", k, sectionKeys(k, known), from[k]))
			}
		case !ok:
			errs = append(errs, fmt.Errorf("agent config: %s: unknown key%s (from %s)", k, knownHint(k, known), from[k]))
		case v == nil: // an empty value in YAML keeps the default
		default:
			if err := setField(field, v); err != nil {
				errs = append(errs, fmt.Errorf("agent config: %s: %v (from %s)", k, err, from[k]))
			}
		}
	}
	errs = append(errs, cfg.Validate()...)
	return cfg, errors.Join(errs...)
}

// agentFields maps every leaf key of cfg to its field.
func agentFields(cfg *Agent) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			k := prefix + v.Type().Field(i).Tag.Get("koanf")
			if fv := v.Field(i); fv.Kind() == reflect.Struct {
				walk(fv, k+".")
			} else {
				out[k] = fv
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return out
}

// setField stores a value from the file (typed by YAML), the environment (a
// string) or a flag (typed by pflag) in a field.
func setField(field reflect.Value, v any) error {
	if field.Type() == reflect.TypeFor[time.Duration]() {
		s, ok := v.(string)
		if !ok {
			// A bare number would silently be nanoseconds.
			return fmt.Errorf("expected a duration with a unit such as 30s, got %v", describeValue(v))
		}
		d, err := spec.ParseDuration(s)
		if err != nil {
			return err
		}
		field.SetInt(int64(d))
		return nil
	}
	switch field.Kind() {
	case reflect.String:
		switch x := v.(type) {
		case string:
			field.SetString(x)
		case int, int64, float64, bool:
			field.SetString(fmt.Sprint(x))
		default:
			return fmt.Errorf("expected a string, got %s", describeValue(v))
		}
	case reflect.Int:
		switch x := v.(type) {
		case int:
			field.SetInt(int64(x))
		case int64:
			field.SetInt(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
				return fmt.Errorf("expected an integer, got %v", x)
			}
			field.SetInt(int64(x))
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil {
				return fmt.Errorf("expected an integer, got %q", x)
			}
			field.SetInt(int64(n))
		default:
			return fmt.Errorf("expected an integer, got %s", describeValue(v))
		}
	case reflect.Float64:
		switch x := v.(type) {
		case float64:
			field.SetFloat(x)
		case int:
			field.SetFloat(float64(x))
		case int64:
			field.SetFloat(float64(x))
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("expected a number, got %q", x)
			}
			field.SetFloat(f)
		default:
			return fmt.Errorf("expected a number, got %s", describeValue(v))
		}
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
			field.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return fmt.Errorf("expected true or false, got %q", x)
			}
			field.SetBool(b)
		default:
			return fmt.Errorf("expected true or false, got %s", describeValue(v))
		}
	case reflect.Slice:
		if field.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported field type %s", field.Type())
		}
		var list []string
		switch x := v.(type) {
		case []string:
			list = x
		case []any:
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("item %d: expected a string, got %s", i, describeValue(e))
				}
				list = append(list, s)
			}
		case string: // an environment variable: comma-separated
			for s := range strings.SplitSeq(x, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		default:
			return fmt.Errorf("expected a list of strings, got %s", describeValue(v))
		}
		field.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported field type %s", field.Type())
	}
	return nil
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// isSection reports whether key is a prefix of known keys ("web").
func isSection(key string, known []string) bool {
	return sectionKeys(key, known) != ""
}

// sectionKeys lists the keys directly under section ("pipelines" gives
// "code, intervention, pulse"), so hints stay short.
func sectionKeys(section string, known []string) string {
	var out []string
	for _, k := range known {
		if rest, ok := strings.CutPrefix(k, section+"."); ok {
			child, _, _ := strings.Cut(rest, ".")
			if !slices.Contains(out, child) {
				out = append(out, child)
			}
		}
	}
	return strings.Join(out, ", ")
}

// knownHint lists the keys of the unknown key's section, or the top-level
// keys when the section itself is unknown.
func knownHint(key string, known []string) string {
	for section := key; ; {
		i := strings.LastIndex(section, ".")
		if i < 0 {
			break
		}
		section = section[:i]
		if keys := sectionKeys(section, known); keys != "" {
			return " (known in " + section + ": " + keys + ")"
		}
	}
	var top []string
	for _, k := range known {
		name, _, _ := strings.Cut(k, ".")
		if !slices.Contains(top, name) {
			top = append(top, name)
		}
	}
	return " (known: " + strings.Join(top, ", ") + ")"
}

// Validate reports every invalid setting.
func (a *Agent) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("agent config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch a.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be one of debug, info, warn, error; got %q", a.Log.Level)
	}
	switch a.Log.Format {
	case "logfmt", "json":
	default:
		bad("log.format", "must be logfmt or json; got %q", a.Log.Format)
	}
	if a.Shard.Count < 1 {
		bad("shard.count", "must be at least 1, got %d", a.Shard.Count)
	} else if a.Shard.Index < 0 || a.Shard.Index >= a.Shard.Count {
		bad("shard.index", "must be between 0 and shard.count-1 (%d), got %d", a.Shard.Count-1, a.Shard.Index)
	}
	a.Cluster.validate(a.Shard, bad)
	if a.Scheduler.Tick <= 0 || a.Scheduler.Tick > time.Second {
		bad("scheduler.tick", "must be between 1ns and 1s, got %v", a.Scheduler.Tick)
	}
	if a.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be greater than zero")
	}
	if a.Storage.Path != "" && a.Storage.Interval < time.Second {
		bad("storage.interval", "must be at least 1s, got %v", a.Storage.Interval)
	}
	for name, p := range map[string]Pipeline{"pulse": a.Pipelines.Pulse, "intervention": a.Pipelines.Intervention, "code": a.Pipelines.Code} {
		p.validate("pipelines."+name, bad)
	}
	if cn := a.Connections; cn.MinPerHost < 1 {
		bad("connections.min_per_host", "must be at least 1, got %d", cn.MinPerHost)
	} else if cn.MaxPerHost < cn.MinPerHost {
		bad("connections.max_per_host", "must be at least connections.min_per_host (%d), got %d", cn.MinPerHost, cn.MaxPerHost)
	}
	if h := a.Connections.Headroom; !(h >= 0 && h <= 10) {
		bad("connections.headroom", "must be a fraction between 0 and 10, got %v", h)
	}
	c := a.Codes
	if c.InitialBackoff <= 0 {
		bad("codes.initial_backoff", "must be greater than zero")
	} else if c.MaxBackoff < c.InitialBackoff {
		bad("codes.max_backoff", "must be at least codes.initial_backoff (%v), got %v", c.InitialBackoff, c.MaxBackoff)
	}
	if c.MaxAge <= 0 {
		bad("codes.max_age", "must be greater than zero")
	}
	if c.AttemptTimeout <= 0 {
		bad("codes.attempt_timeout", "must be greater than zero")
	}
	if max := a.Pipelines.Code.Workers.Max; c.PerDestination < 1 || c.PerDestination > max {
		bad("codes.max_in_flight_per_destination", "must be between 1 and pipelines.code.workers.max (%d), got %d", max, c.PerDestination)
	}
	if a.Metrics.PerMonitorLimit < 0 {
		bad("metrics.per_monitor_limit", "must be at least 0 (0 turns per-monitor series off), got %d", a.Metrics.PerMonitorLimit)
	}
	if n := a.AlertmanagerWebhook.MaxRelayedAlerts; n < 1 {
		bad("alertmanager_webhook.max_relayed_alerts", "must be at least 1, got %d", n)
	}
	if n := a.AlertmanagerWebhook.MaxRequestBytes; n < 1<<10 || n > 1<<30 {
		bad("alertmanager_webhook.max_request_bytes", "must be between 1024 and 1073741824 (1 KiB and 1 GiB), got %d", n)
	}
	if r := a.Tracing.RoutineCheckSampleRatio; !(r >= 0 && r <= 1) {
		bad("tracing.routine_check_sample_ratio", "must be between 0 and 1, got %v", r)
	}
	slices.SortFunc(errs, func(x, y error) int { return strings.Compare(x.Error(), y.Error()) })
	return errs
}

// validate reports the invalid cluster settings.
func (c Cluster) validate(shard Shard, bad func(key, format string, args ...any)) {
	if !c.Enabled() {
		if c.AdvertiseAddress != "" || len(c.Join) > 0 {
			bad("cluster.listen_address", "required with cluster.advertise_address or cluster.join")
		}
		return
	}
	if shard.Count > 1 {
		bad("cluster.listen_address", "a cluster shares the monitors by itself: leave shard.count at 1 (got %d)", shard.Count)
	}
	hostPort := func(key, addr string, needHost bool) {
		host, port, err := net.SplitHostPort(addr)
		switch {
		case err != nil:
			bad(key, "want host:port, got %q", addr)
		case port == "" || strings.Trim(port, "0123456789") != "":
			bad(key, "want a numeric port, got %q", addr)
		case needHost && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()):
			bad(key, "peers cannot reach %q: set cluster.advertise_address to an address they can", addr)
		}
	}
	hostPort("cluster.listen_address", c.ListenAddress, false)
	if c.AdvertiseAddress != "" {
		hostPort("cluster.advertise_address", c.AdvertiseAddress, true)
	} else {
		hostPort("cluster.listen_address", c.ListenAddress, true)
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval {
		bad("cluster.probe_timeout", "must be greater than zero and shorter than cluster.probe_interval (%v), got %v", c.ProbeInterval, c.ProbeTimeout)
	}
	if c.SuspicionMult < 1 {
		bad("cluster.suspicion_mult", "must be at least 1, got %d", c.SuspicionMult)
	}
	if c.GossipInterval <= 0 {
		bad("cluster.gossip_interval", "must be greater than zero")
	}
}

// maxQueueCapacity keeps a queue's memory bounded (the ring is a power of two).
const maxQueueCapacity = 1 << 24

// maxWorkers bounds a pool: goroutines are cheap, but not free.
const maxWorkers = 1_000_000

// validate reports the invalid settings of one pipeline, each under its key.
func (p Pipeline) validate(pre string, bad func(key, format string, args ...any)) {
	q, w, s, b := p.Queue, p.Workers, p.Sizing, p.Breaker
	if q.Capacity < 1 || q.Capacity > maxQueueCapacity {
		bad(pre+".queue.capacity", "must be between 1 and %d, got %d", maxQueueCapacity, q.Capacity)
	}
	if !(q.HighWater > 0 && q.HighWater <= 1) {
		bad(pre+".queue.high_water", "must be a fraction of the capacity in (0, 1], got %v", q.HighWater)
	}
	if !(q.LowWater >= 0 && q.LowWater < 1) {
		bad(pre+".queue.low_water", "must be a fraction of the capacity in [0, 1), got %v", q.LowWater)
	} else if q.LowWater >= q.HighWater {
		bad(pre+".queue.low_water", "must be below queue.high_water (%v), got %v", q.HighWater, q.LowWater)
	}
	if w.Min < 1 {
		bad(pre+".workers.min", "must be at least 1, got %d", w.Min)
	}
	if w.Max < w.Min {
		bad(pre+".workers.max", "must be at least workers.min (%d), got %d", w.Min, w.Max)
	} else if w.Max > maxWorkers {
		bad(pre+".workers.max", "must be at most %d, got %d", maxWorkers, w.Max)
	}
	if s.SLO <= 0 {
		bad(pre+".sizing.slo", "must be greater than zero, got %v", s.SLO)
	}
	if !(s.Quantile >= 0 && s.Quantile < 1) {
		bad(pre+".sizing.quantile", "must be in [0, 1) (0 sizes for the mean wait), got %v", s.Quantile)
	}
	if !(s.Headroom >= 0 && s.Headroom <= 10) {
		bad(pre+".sizing.headroom", "must be a fraction between 0 and 10, got %v", s.Headroom)
	}
	if s.Interval < 100*time.Millisecond {
		bad(pre+".sizing.interval", "must be at least 100ms, got %v", s.Interval)
	}
	if b.FailureThreshold < 1 {
		bad(pre+".breaker.failure_threshold", "must be at least 1, got %d", b.FailureThreshold)
	}
	if b.OpenTimeout <= 0 {
		bad(pre+".breaker.open_timeout", "must be greater than zero, got %v", b.OpenTimeout)
	}
	if b.HalfOpenRequests < 1 {
		bad(pre+".breaker.half_open_requests", "must be at least 1, got %d", b.HalfOpenRequests)
	}
	if pre == "pipelines.pulse" {
		if !(b.FailureRatio > 0 && b.FailureRatio <= 1) {
			bad(pre+".breaker.failure_ratio", "must be a fraction in (0, 1], got %v", b.FailureRatio)
		}
		if b.Window <= 0 {
			bad(pre+".breaker.window", "must be greater than zero, got %v", b.Window)
		}
	}
}

// knownKeys lists every leaf key of Agent, dotted.
func knownKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			k := prefix + f.Tag.Get("koanf")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, k+".")
				continue
			}
			out = append(out, k)
		}
	}
	walk(reflect.TypeFor[Agent](), "")
	slices.Sort(out)
	return out
}

// EnvName is the environment variable for a key: "web.listen_address" is
// CPRA_WEB_LISTEN_ADDRESS.
func EnvName(key string) string {
	return "CPRA_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

func knownEnv(keys []string) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = EnvName(k)
	}
	return strings.Join(names, ", ")
}
