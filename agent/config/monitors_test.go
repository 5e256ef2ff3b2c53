package config_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

var update = flag.Bool("update", false, "rewrite the golden files testdata/bad-*.yaml.err")

// testKinds returns the built-in kinds with notifiers writing to a buffer.
func testKinds(t testing.TB) *config.Kinds {
	t.Helper()
	k, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(), kind.Deps{Stdout: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// load loads a testdata file and closes its notifiers (the Alertmanager
// notifier runs a goroutine) when the test ends.
func load(t *testing.T, name string, prev *config.Instances) *config.Monitors {
	t.Helper()
	path := filepath.Join("testdata", name)
	ms, err := loadFile(path, testKinds(t), prev)
	if err != nil {
		t.Fatalf("load %s:\n%v", path, err)
	}
	if err := ms.Instances.Build(); err != nil {
		t.Fatalf("build %s:\n%v", path, err)
	}
	t.Cleanup(func() { closeAll(t, ms.Instances) })
	return ms
}

func closeAll(t *testing.T, in *config.Instances) {
	t.Helper()
	if err := in.CloseUnused(context.Background(), nil); err != nil {
		t.Errorf("close notifiers: %v", err)
	}
}

func TestGoodFilesLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/good-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/good-*.yaml files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ms := load(t, filepath.Base(path), nil)
			if ms.File != path {
				t.Errorf("File = %q, want %q", ms.File, path)
			}
			for _, m := range ms.Monitors {
				if ms.Instances.Prober(m.Instances.Prober) == nil {
					t.Errorf("monitor %q has no prober", m.Name)
				}
				if m.Intervention != nil && ms.Instances.Remedy(m.Instances.Remedy) == nil {
					t.Errorf("monitor %q has an intervention without a remedy", m.Name)
				}
				if m.Line == 0 || m.ProfileKey == (spec.Key{}) {
					t.Errorf("monitor %q: Line %d, ProfileKey %x: want both set", m.Name, m.Line, m.ProfileKey)
				}
				for _, c := range domain.All {
					if r := m.Codes[c]; r.Configured && r.Dispatch && ms.Instances.Notifier(r.Notifier) == nil {
						t.Errorf("monitor %q: %v dispatches to no notifier", m.Name, c)
					}
				}
			}
		})
	}
}

// summary is the comparable part of a loaded monitor.
type summary struct {
	Line    int
	Enabled bool
	Groups  []string
	Metrics bool

	Type             string
	Interval         time.Duration
	Timeout          time.Duration
	MaxFailures      int
	HealthyThreshold int
	Address          string

	Intervention string // "type max_per_window window timeout retries backoff", or "" for none
	Codes        map[string][]string
}

func summarize(ms *config.Monitors, m config.Monitor) summary {
	s := summary{
		Line:             m.Line,
		Enabled:          m.Enabled,
		Groups:           m.Groups,
		Metrics:          m.Metrics,
		Type:             m.Pulse.Type,
		Interval:         m.Pulse.Interval,
		Timeout:          m.Pulse.Timeout,
		MaxFailures:      m.Pulse.MaxFailures,
		HealthyThreshold: m.Pulse.HealthyThreshold,
		Address:          m.Pulse.Address,
		Codes:            destinations(ms, &m.Codes),
	}
	if iv := m.Intervention; iv != nil {
		p := ms.Instances.Remedy(m.Instances.Remedy).Policy()
		s.Intervention = strings.Join([]string{
			iv.Type, strconv.Itoa(iv.MaxPerWindow), iv.Window.String(),
			p.Timeout.Std().String(), strconv.Itoa(p.Retries), p.Backoff.Std().String(),
		}, " ")
	}
	return s
}

// destinations maps each colour to where the routes of c send it (as the
// world resolves them); colours that go nowhere are left out.
func destinations(ms *config.Monitors, c *config.Codes) map[string][]string {
	out := map[string][]string{}
	if err := ms.Instances.Build(); err != nil { // a no-op when load built them
		panic(err)
	}
	routes := world.NewRoutes(*c, ms.Instances)
	for _, k := range domain.All {
		for _, n := range routes.Notifiers(k) {
			out[k.String()] = append(out[k.String()], n.Destination())
		}
	}
	return out
}

// everyColour routes every colour to dest.
func everyColour(dest string) map[string][]string {
	out := map[string][]string{}
	for _, c := range domain.All {
		out[c.String()] = []string{dest}
	}
	return out
}

func TestGoodFileValues(t *testing.T) {
	const (
		stdout = "log:stdout"
		am     = "alertmanager:http://127.0.0.1:9093"
		hook   = "webhook:http://127.0.0.1:9000/hook"
	)
	// defaults fills the fields a test leaves zero with the file defaults.
	defaults := func(s summary) summary {
		s.Enabled = true
		orDefault(&s.Interval, config.DefaultInterval)
		orDefault(&s.Timeout, config.DefaultTimeout)
		orDefault(&s.MaxFailures, config.DefaultMaxFailures)
		orDefault(&s.HealthyThreshold, config.DefaultHealthyThreshold)
		if s.Codes == nil {
			s.Codes = map[string][]string{}
		}
		return s
	}
	tests := []struct {
		file string
		want map[string]summary
	}{
		{"good-seed.yaml", map[string]summary{
			"api-health": defaults(summary{
				Line: 4, Type: "http", Address: "http://127.0.0.1:8080/health",
				Intervention: "script 3 1h0m0s 30s 0 1s",
				Codes: map[string][]string{
					"yellow": {stdout}, "red": {am},
					"cyan": {stdout, am}, "green": {stdout, am}, "gray": {stdout, am},
				},
			}),
			"my-service-health-check": defaults(summary{
				Line: 21, Type: "http", Address: "http://127.0.0.1:8081/health",
				Intervention: "script 3 1h0m0s 30s 0 1s",
				Codes:        everyColour(stdout),
			}),
		}},
		{"good-checks.yaml", map[string]summary{
			"defaults": defaults(summary{Line: 4, Type: "http", Address: "http://127.0.0.1:8080/"}),
			"http-full": {
				Line: 10, Enabled: false, Groups: []string{"api", "payments"},
				Type: "http", Interval: time.Minute, Timeout: 10 * time.Second,
				MaxFailures: 5, HealthyThreshold: 3, Address: "https://127.0.0.1:8443/health?deep=1",
				Codes: map[string][]string{},
			},
			"unhealthy-alias": defaults(summary{
				Line: 29, Groups: []string{"api"}, Type: "tcp",
				Interval: 10 * time.Second, MaxFailures: 4, Address: "127.0.0.1:5432",
			}),
			"both-thresholds": defaults(summary{Line: 37, Type: "tcp", MaxFailures: 2, Address: "localhost:6379"}),
			"short-interval": defaults(summary{
				Line: 45, Type: "icmp", Interval: 2 * time.Second, Timeout: 2 * time.Second, Address: "127.0.0.1",
			}),
			"daily-script": defaults(summary{
				Line: 52, Type: "script", Interval: 24 * time.Hour, Timeout: time.Minute,
			}),
			"command-script": defaults(summary{Line: 63, Type: "script"}),
		}},
		{"good-interventions.yaml", map[string]summary{
			"script-remedy":      defaults(summary{Line: 3, Type: "tcp", Address: "127.0.0.1:8080", Intervention: "script 5 30m0s 20s 2 2s"}),
			"webhook-remedy":     defaults(summary{Line: 18, Type: "tcp", Address: "127.0.0.1:8081", Intervention: "webhook 3 1h0m0s 30s 0 1s"}),
			"docker-remedy":      defaults(summary{Line: 30, Type: "tcp", Address: "127.0.0.1:8082", Intervention: "docker 3 1h0m0s 1m0s 0 1s"}),
			"script-remedy-twin": defaults(summary{Line: 44, Type: "tcp", Address: "127.0.0.1:8083", Intervention: "script 5 30m0s 20s 2 2s"}),
		}},
		{"good-codes.yaml", map[string]summary{
			"every-colour": defaults(summary{
				Line: 4, Type: "http", Address: "http://127.0.0.1:8080/a",
				Codes: map[string][]string{"yellow": {stdout}, "red": {am}, "cyan": {hook}, "green": {am}},
			}),
			"fallback": defaults(summary{
				Line: 16, Type: "http", Address: "http://127.0.0.1:8080/b",
				Codes: map[string][]string{
					"yellow": {stdout}, "red": {am},
					"cyan": {stdout, am}, "green": {stdout, am}, "gray": {stdout, am},
				},
			}),
			"suppressed": defaults(summary{
				Line: 25, Type: "http", Address: "http://127.0.0.1:8080/c",
				Codes: map[string][]string{"red": {hook}, "cyan": {hook}, "green": {hook}, "gray": {hook}},
			}),
			"no-codes": defaults(summary{Line: 33, Type: "http", Address: "http://127.0.0.1:8080/d"}),
		}},
		{"good-anchors.yaml", map[string]summary{
			"base":   defaults(summary{Line: 3, Type: "http", Interval: 10 * time.Second, Address: "http://127.0.0.1:8080/base", Codes: everyColour(stdout)}),
			"alias":  defaults(summary{Line: 10, Type: "http", Interval: 10 * time.Second, Address: "http://127.0.0.1:8080/base", Codes: everyColour(stdout)}),
			"merged": defaults(summary{Line: 13, Groups: []string{"merged"}, Type: "http", Interval: 10 * time.Second, Timeout: 2 * time.Second, Address: "http://127.0.0.1:8080/base", Codes: everyColour(stdout)}),
		}},
		{"good-metrics.yaml", map[string]summary{
			"checkout":       defaults(summary{Line: 5, Metrics: true, Type: "http", Address: "http://127.0.0.1:8080/checkout"}),
			"payments-api":   defaults(summary{Line: 10, Groups: []string{"api", "payments"}, Metrics: true, Type: "http", Address: "http://127.0.0.1:8080/pay"}),
			"payments-batch": defaults(summary{Line: 15, Groups: []string{"payments"}, Type: "http", Address: "http://127.0.0.1:8080/batch"}),
			"search":         defaults(summary{Line: 21, Groups: []string{"api"}, Type: "http", Address: "http://127.0.0.1:8080/search"}),
		}},
		{"good-empty.yaml", map[string]summary{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ms := load(t, tt.file, nil)
			got := map[string]summary{}
			for _, m := range ms.Monitors {
				got[m.Name] = summarize(ms, m)
			}
			for name, want := range tt.want {
				if g, ok := got[name]; !ok {
					t.Errorf("monitor %q missing", name)
				} else if !reflect.DeepEqual(g, want) {
					t.Errorf("monitor %q:\n got %+v\nwant %+v", name, g, want)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("unexpected monitor %q", name)
				}
			}
		})
	}
}

func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// byName indexes a file's monitors.
func byName(ms *config.Monitors) map[string]config.Monitor {
	out := map[string]config.Monitor{}
	for _, m := range ms.Monitors {
		out[m.Name] = m
	}
	return out
}

func TestMonitorOrder(t *testing.T) {
	ms := load(t, "good-checks.yaml", nil)
	var got []string
	for _, m := range ms.Monitors {
		got = append(got, m.Name)
	}
	want := []string{"defaults", "http-full", "unhealthy-alias", "both-thresholds", "short-interval", "daily-script", "command-script"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("monitors in order %q, want the file's order %q", got, want)
	}
}

func TestInstancesShared(t *testing.T) {
	sharing := byName(load(t, "good-sharing.yaml", nil))
	codesFile := load(t, "good-codes.yaml", nil)
	codes := byName(codesFile)
	seed := byName(load(t, "good-seed.yaml", nil))
	ivs := byName(load(t, "good-interventions.yaml", nil))

	tests := []struct {
		name string
		a, b spec.Key // a shared instance is one key
		same bool
	}{
		{"http monitors differing only in url", sharing["shop-a"].Instances.Prober, sharing["shop-b"].Instances.Prober, true},
		{"http monitors differing in method", sharing["shop-a"].Instances.Prober, sharing["shop-post"].Instances.Prober, false},
		{"tcp monitors differing only in host and port", sharing["db-1"].Instances.Prober, sharing["db-2"].Instances.Prober, true},
		{"http and tcp", sharing["shop-a"].Instances.Prober, sharing["db-1"].Instances.Prober, false},
		{"alertmanager for red and green of one monitor", codes["every-colour"].Codes[domain.Red].Notifier, codes["every-colour"].Codes[domain.Green].Notifier, true},
		{"alertmanager with keys in another order", codes["every-colour"].Codes[domain.Red].Notifier, codes["fallback"].Codes[domain.Red].Notifier, true},
		{"log to stdout across monitors", codes["every-colour"].Codes[domain.Yellow].Notifier, codes["fallback"].Codes[domain.Yellow].Notifier, true},
		{"webhook across monitors", codes["every-colour"].Codes[domain.Cyan].Notifier, codes["suppressed"].Codes[domain.Red].Notifier, true},
		{"log and alertmanager", codes["fallback"].Codes[domain.Yellow].Notifier, codes["fallback"].Codes[domain.Red].Notifier, false},
		{"log to stdout in flow and block style", seed["api-health"].Codes[domain.Yellow].Notifier, seed["my-service-health-check"].Codes[domain.Yellow].Notifier, true},
		{"identical script remedies", ivs["script-remedy"].Instances.Remedy, ivs["script-remedy-twin"].Instances.Remedy, true},
		{"script and webhook remedies", ivs["script-remedy"].Instances.Remedy, ivs["webhook-remedy"].Instances.Remedy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == (spec.Key{}) || tt.b == (spec.Key{}) {
				t.Fatalf("instance missing: %v, %v", tt.a, tt.b)
			}
			if same := tt.a == tt.b; same != tt.same {
				t.Errorf("same instance = %v, want %v", same, tt.same)
			}
		})
	}

	every := codes["every-colour"]
	routes := world.NewRoutes(every.Codes, codesFile.Instances)
	if got := len(routes.Notifiers(domain.Green)); got != 1 {
		t.Errorf("green targets %d notifiers, want 1", got)
	}
	if a, b := sharing["shop-a"], sharing["shop-b"]; a.ProfileKey != b.ProfileKey || a.Source == b.Source {
		t.Errorf("shop-a and shop-b: want one profile key and two sources; keys equal %v, sources equal %v",
			a.ProfileKey == b.ProfileKey, a.Source == b.Source)
	}
	if a, b := sharing["shop-a"], sharing["shop-post"]; a.ProfileKey == b.ProfileKey {
		t.Error("shop-a and shop-post share a profile key; their checks differ")
	}
}

// TestReloadReusesInstances checks that a reload of an unchanged file keeps
// the running probers, remedies and notifiers, so an Alertmanager notifier
// keeps its firing alerts.
func TestReloadReusesInstances(t *testing.T) {
	for _, file := range []string{"good-codes.yaml", "good-interventions.yaml", "good-sharing.yaml"} {
		t.Run(file, func(t *testing.T) {
			first := load(t, file, nil)
			second := load(t, file, first.Instances)
			for i, a := range first.Monitors {
				b := second.Monitors[i]
				if first.Instances.Prober(a.Instances.Prober) != second.Instances.Prober(b.Instances.Prober) {
					t.Errorf("monitor %q: reload built a new prober", a.Name)
				}
				if a.Intervention != nil && first.Instances.Remedy(a.Instances.Remedy) != second.Instances.Remedy(b.Instances.Remedy) {
					t.Errorf("monitor %q: reload built a new remedy", a.Name)
				}
				for _, c := range domain.All {
					if first.Instances.Notifier(a.Codes[c].Notifier) != second.Instances.Notifier(b.Codes[c].Notifier) {
						t.Errorf("monitor %q: reload built a new %v notifier", a.Name, c)
					}
				}
				if a.Source != b.Source || a.ProfileKey != b.ProfileKey {
					t.Errorf("monitor %q: source or profile key changed on an identical reload", a.Name)
				}
			}
		})
	}
}

// TestBadFiles compares every error of testdata/bad-*.yaml with the golden
// file next to it. Run `go test ./agent/config -run TestBadFiles -update`
// to rewrite the golden files, then read the diff.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/bad-*.yaml files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ms, err := loadFile(path, testKinds(t), nil)
			if err == nil {
				closeAll(t, ms.Instances)
				t.Fatal("loaded without error")
			}
			if ms != nil {
				t.Error("returned monitors together with an error")
			}
			got := err.Error() + "\n"
			golden := path + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (run with -update to rewrite it)\n--- got\n%s--- want\n%s", golden, got, want)
			}
			for _, e := range flatten(err) {
				var ce *config.Error
				if !errors.As(e, &ce) {
					t.Errorf("%q is a %T, want *config.Error", e, e)
					continue
				}
				// Only a YAML syntax error has no line of its own: the
				// parser's line is in its message.
				syntax := strings.Contains(ce.Msg, "invalid YAML")
				if ce.File != path || (ce.Line < 1) != syntax {
					t.Errorf("%q: File %q, Line %d: want %q and a line", e, ce.File, ce.Line, path)
				}
			}
		})
	}
}

// TestEveryErrorReported checks the file with several broken monitors: each
// problem is its own error naming the monitor and the field.
func TestEveryErrorReported(t *testing.T) {
	_, err := loadFile("testdata/bad-many-errors.yaml", testKinds(t), nil)
	if err == nil {
		t.Fatal("loaded without error")
	}
	type loc struct {
		Line           int
		Monitor, Field string
	}
	var got []loc
	for _, e := range flatten(err) {
		var ce *config.Error
		if errors.As(e, &ce) {
			got = append(got, loc{ce.Line, ce.Monitor, ce.Field})
		}
	}
	want := []loc{
		{7, "web", "pulse_check.timeout"},
		{9, "web", "pulse_check.config.url"},
		{11, "web", "codes.red.notify"},
		{16, "db", "pulse_check.max_failures"},
		{17, "db", "pulse_check.config.port"},
		{20, "db", "intervention.config.container"},
		{20, "db", "intervention.config.action"},
		{22, "web", "name"}, // the duplicate, although it has errors of its own
		{23, "web", "enabled"},
		{25, "web", "pulse_check.type"},
		{31, "cache", "pulse_check.interval"},
		{34, "cache", "codes.yellow.config.rotate"},
		{35, "cache", "codes.purple"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors at\n%v\nwant\n%v\n(all errors: %v)", got, want, err)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func TestParseMonitorsEmpty(t *testing.T) {
	for _, data := range []string{"", "\n", "# only a comment\n", "monitors: []\n", "monitors:\n"} {
		ms, err := config.ParseMonitors("empty.yaml", []byte(data), testKinds(t), nil)
		if err != nil {
			t.Errorf("%q: %v", data, err)
			continue
		}
		if len(ms.Monitors) != 0 {
			t.Errorf("%q: %d monitors, want none", data, len(ms.Monitors))
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "m.yaml", Line: 3, Monitor: "api", Field: "pulse_check.interval", Msg: "must be at least 100ms, got 0s"},
			`m.yaml:3: monitor "api": pulse_check.interval: must be at least 100ms, got 0s`},
		{config.Error{File: "m.yaml", Line: 1, Field: "monitor", Msg: "unknown field (known: monitors)"},
			`m.yaml:1: monitor: unknown field (known: monitors)`},
		{config.Error{File: "m.yaml", Msg: "did not find expected key"}, `m.yaml: did not find expected key`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// loadFile reads and parses a testdata file, as the agent does with --yaml.
func loadFile(path string, kinds *config.Kinds, prev *config.Instances) (*config.Monitors, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.ParseMonitors(path, data, kinds, prev)
}

// TestMetricsSection loads the metrics section wherever it is in the file,
// and through both load paths: chunks per monitor, and the whole document
// (which an alias between monitors forces). Opt-ins and errors must not
// depend on either.
func TestMetricsSection(t *testing.T) {
	const monitors = `monitors:
  - name: a
    groups: [payments]
    pulse_check: {type: tcp, config: &tcp {host: 127.0.0.1, port: 5432}}
  - name: b
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 5433}}
  - name: c
    groups: payments
    metrics: false
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 5434}}
`
	const alias = `  - name: d
    pulse_check: {type: tcp, config: *tcp}
`
	const section = "metrics:\n  groups: [payments]\n"
	const badSection = "metrics:\n  groups: [payments, nobody]\n  limit: 3\n"
	want := map[string]bool{"a": true, "b": false, "c": false, "d": false}
	tests := []struct {
		name string
		text string
	}{
		{"after, chunks", monitors + section},
		{"before, chunks", section + monitors},
		{"after, whole document", monitors + alias + section},
		{"before, whole document", section + monitors + alias},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := config.ParseMonitors("m.yaml", []byte(tt.text), testKinds(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeAll(t, ms.Instances) })
			for _, m := range ms.Monitors {
				if m.Metrics != want[m.Name] {
					t.Errorf("monitor %q: Metrics %v, want %v", m.Name, m.Metrics, want[m.Name])
				}
			}
			// The same file with a broken section: every error, on its line.
			text := strings.Replace(tt.text, section, badSection, 1)
			_, err = config.ParseMonitors("m.yaml", []byte(text), testKinds(t), nil)
			if err == nil {
				t.Fatal("a broken metrics section loaded")
			}
			first := lineOf(text, "metrics:")
			wantErr := fmt.Sprintf("m.yaml:%d: metrics.limit: unknown field (known: groups)", first+2)
			if err.Error() != wantErr {
				t.Errorf("errors:\n%v\nwant\n%s", err, wantErr)
			}
			text = strings.Replace(tt.text, section, "metrics:\n  groups: [payments, nobody]\n", 1)
			_, err = config.ParseMonitors("m.yaml", []byte(text), testKinds(t), nil)
			wantErr = fmt.Sprintf(`m.yaml:%d: metrics.groups: no monitor is in group "nobody"`, first+1)
			if err == nil || err.Error() != wantErr {
				t.Errorf("errors:\n%v\nwant\n%s", err, wantErr)
			}
		})
	}
}

// lineOf is the 1-based number of the first line of text that is line.
func lineOf(text, line string) int {
	for i, l := range strings.Split(text, "\n") {
		if l == line {
			return i + 1
		}
	}
	return 0
}

// TestMetricsProfileKey checks that the opt-in is part of the profile key,
// wherever it comes from: monitors differing only in it never share a
// profile, and monitors opted in by their group and by their own key do.
func TestMetricsProfileKey(t *testing.T) {
	const text = `monitors:
  - name: own
    metrics: true
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 1}}
  - name: by-group
    groups: [g]
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 2}}
  - name: not-in
    groups: [g]
    metrics: false
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 3}}
  - name: plain
    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 4}}
metrics: {groups: [g]}
`
	ms, err := config.ParseMonitors("m.yaml", []byte(text), testKinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(t, ms.Instances) })
	m := byName(ms)
	// "by-group" and "not-in" differ only in their opt-in; the groups of
	// "own" and "plain" are part of their definitions.
	if m["by-group"].ProfileKey == m["not-in"].ProfileKey {
		t.Error("monitors differing only in their opt-in share a profile key")
	}
	if m["own"].ProfileKey == m["plain"].ProfileKey {
		t.Error("an opted-in monitor shares a profile key with one that did not opt in")
	}

	// Taking a group out of the metrics section changes its monitors'
	// hashes, so a reload applies the change.
	again, err := config.ParseMonitors("m.yaml", []byte(strings.Replace(text, "metrics: {groups: [g]}\n", "", 1)), testKinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(t, again.Instances) })
	n := byName(again)
	if n["by-group"].Metrics || n["by-group"].Source == m["by-group"].Source {
		t.Errorf("without the section: by-group Metrics %v, source changed %v; want false, true",
			n["by-group"].Metrics, n["by-group"].Source != m["by-group"].Source)
	}
	if n["plain"].Source != m["plain"].Source {
		t.Error("a monitor outside the group changed its source")
	}
}

// TestAlertmanagerWebhookSection loads the default route of inbound alerts
// and the monitors' on_alert, wherever the section is in the file and
// through both load paths (chunks per monitor, the whole document).
func TestAlertmanagerWebhookSection(t *testing.T) {
	ms := load(t, "good-alertmanager-webhook.yaml", nil)
	m := byName(ms)
	if iv := m["checkout"].Intervention; iv == nil || !iv.OnAlert {
		t.Errorf("checkout: intervention %+v, want on_alert true", iv)
	}
	if iv := m["search"].Intervention; iv == nil || iv.OnAlert {
		t.Errorf("search: intervention %+v, want on_alert false", iv)
	}
	const (
		stdout = "log:stdout"
		hook   = "webhook:http://127.0.0.1:9000/hook"
	)
	want := map[string][]string{"yellow": {stdout}, "red": {hook}, "green": {stdout, hook}, "gray": {stdout, hook}}
	if got := destinations(ms, &ms.AlertmanagerWebhook.Codes); !reflect.DeepEqual(got, want) {
		t.Errorf("default route %v, want %v", got, want)
	}
	// The checkout monitor's log notifier and the section's are one.
	if a, b := m["checkout"].Codes[domain.Red].Notifier, ms.AlertmanagerWebhook.Codes[domain.Yellow].Notifier; a != b {
		t.Error("the section and a monitor with the same log block have two notifiers")
	}

	const monitors = `monitors:
  - name: a
    pulse_check: {type: tcp, config: &tcp {host: 127.0.0.1, port: 5432}}
`
	const alias = `  - name: b
    pulse_check: {type: tcp, config: *tcp}
`
	const section = "alertmanager_webhook:\n  codes:\n    red: {notify: log, config: {file: \"\"}}\n"
	for _, tt := range []struct{ name, text string }{
		{"after, chunks", monitors + section},
		{"before, chunks", section + monitors},
		{"after, whole document", monitors + alias + section},
		{"before, whole document", section + monitors + alias},
		{"no monitors", section},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := config.ParseMonitors("m.yaml", []byte(tt.text), testKinds(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeAll(t, ms.Instances) })
			if got := destinations(ms, &ms.AlertmanagerWebhook.Codes); !reflect.DeepEqual(got, everyColour(stdout)) {
				t.Errorf("default route %v, want every colour to %s", got, stdout)
			}
		})
	}
	none, err := config.ParseMonitors("m.yaml", []byte(monitors), testKinds(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(t, none.Instances) })
	if got := destinations(none, &none.AlertmanagerWebhook.Codes); len(got) != 0 {
		t.Errorf("without the section, the default route is %v, want none", got)
	}
}

// A huge value is quoted in the error as a short prefix and its length,
// not echoed whole into the error, the log and the /-/reload answer.
func TestHugeValueIsNotEchoed(t *testing.T) {
	huge := strings.Repeat("x", 50<<20)
	text := "monitors:\n  - name: api\n    pulse_check: {type: http, interval: \"" + huge + "\", config: {url: \"http://127.0.0.1:1/\"}}\n"
	_, err := config.ParseMonitors("m.yaml", []byte(text), testKinds(t), nil)
	if err == nil {
		t.Fatal("a 50 MB interval was accepted")
	}
	if msg := err.Error(); len(msg) > 1024 || !strings.Contains(msg, "(52428800 bytes)") {
		t.Errorf("error of %d bytes: %.300s", len(msg), msg)
	}
}

// A secret never appears in an error, even when its own value is what is
// wrong (the errors go to --config.check, the log and /-/reload).
func TestSecretsStayOutOfErrors(t *testing.T) {
	for _, block := range []string{
		"basic_auth: {password: hunter2}",
		"basic_auth: {username: u, password: [hunter2]}",
		"authorization: {credentials: {hunter2: 1}}",
		"oauth2: {client_id: c, client_secret: hunter2, token_url: 'ftp://x'}",
	} {
		text := "monitors:\n  - name: api\n    pulse_check:\n      type: http\n      config:\n        url: http://127.0.0.1:1/\n        " + block + "\n"
		_, err := config.ParseMonitors("m.yaml", []byte(text), testKinds(t), nil)
		if err == nil {
			t.Errorf("%s: accepted", block)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the secret is in the error: %v", block, err)
		}
		if !strings.Contains(err.Error(), `monitor "api": pulse_check.config.`) {
			t.Errorf("%s: not the error expected: %v", block, err)
		}
	}
}
