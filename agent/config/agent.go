package config

import (
	"errors"
	"fmt"
	"math"
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

	"github.com/cpra-agent/cpra-agent/pipelines/spec"
)

// Agent is the agent's own configuration (not the monitors).
type Agent struct {
	MonitorsFile    string        `koanf:"monitors_file"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	Web             Web           `koanf:"web"`
	Log             Log           `koanf:"log"`
	Pprof           Pprof         `koanf:"pprof"`
	Shard           Shard         `koanf:"shard"`
	Scheduler       Scheduler     `koanf:"scheduler"`
	Pipelines       Pipelines     `koanf:"pipelines"`
	Codes           CodeDelivery  `koanf:"codes"`
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

// Pipeline sizes one pipeline.
type Pipeline struct {
	Queue   Queue   `koanf:"queue"`
	Workers Workers `koanf:"workers"`
}

// Queue sizes a pipeline's queue.
type Queue struct {
	Capacity int `koanf:"capacity"`
}

// Workers bounds a pipeline's pool.
type Workers struct {
	Min int `koanf:"min"`
	Max int `koanf:"max"`
}

// CodeDelivery is the retry policy for codes.
type CodeDelivery struct {
	InitialBackoff time.Duration `koanf:"initial_backoff"`
	MaxBackoff     time.Duration `koanf:"max_backoff"`
	MaxAge         time.Duration `koanf:"max_age"`
	AttemptTimeout time.Duration `koanf:"attempt_timeout"`
}

// DefaultAgent is the configuration used when nothing overrides it.
func DefaultAgent() Agent {
	return Agent{
		ShutdownTimeout: 30 * time.Second,
		Web:             Web{ListenAddress: ":9469"},
		Log:             Log{Level: "info", Format: "logfmt"},
		Pprof:           Pprof{Addr: "127.0.0.1:6060"},
		Shard:           Shard{Count: 1},
		Scheduler:       Scheduler{Tick: 10 * time.Millisecond},
		Pipelines: Pipelines{
			Pulse:        Pipeline{Queue{65536}, Workers{8, 2000}},
			Intervention: Pipeline{Queue{1024}, Workers{1, 64}},
			Code:         Pipeline{Queue{8192}, Workers{2, 128}},
		},
		Codes: CodeDelivery{
			InitialBackoff: time.Second,
			MaxBackoff:     time.Minute,
			MaxAge:         time.Hour,
			AttemptTimeout: 30 * time.Second,
		},
	}
}

// Flags are the command line, parsed.
type Flags struct {
	Set         *pflag.FlagSet
	ConfigFile  string
	ConfigCheck bool
	Help        bool
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
	fs.Int("shard.count", d.Shard.Count, "Number of shards the monitors are split across.")
	fs.Int("shard.index", 0, "This replica's shard, from 0 to shard.count-1.")
	fs.BoolVarP(&f.Help, "help", "h", false, "Show this help.")
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
	"shard.count":        "shard.count",
	"shard.index":        "shard.index",
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

// sectionKeys lists the keys under section, without the section prefix.
func sectionKeys(section string, known []string) string {
	var out []string
	for _, k := range known {
		if rest, ok := strings.CutPrefix(k, section+"."); ok {
			out = append(out, rest)
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
	if a.Scheduler.Tick <= 0 || a.Scheduler.Tick > time.Second {
		bad("scheduler.tick", "must be between 1ns and 1s, got %v", a.Scheduler.Tick)
	}
	if a.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be greater than zero")
	}
	for name, p := range map[string]Pipeline{"pulse": a.Pipelines.Pulse, "intervention": a.Pipelines.Intervention, "code": a.Pipelines.Code} {
		pre := "pipelines." + name
		if p.Queue.Capacity < 1 {
			bad(pre+".queue.capacity", "must be at least 1, got %d", p.Queue.Capacity)
		}
		if p.Workers.Min < 1 {
			bad(pre+".workers.min", "must be at least 1, got %d", p.Workers.Min)
		}
		if p.Workers.Max < p.Workers.Min {
			bad(pre+".workers.max", "must be at least workers.min (%d), got %d", p.Workers.Min, p.Workers.Max)
		}
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
	slices.SortFunc(errs, func(x, y error) int { return strings.Compare(x.Error(), y.Error()) })
	return errs
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
