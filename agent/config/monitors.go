package config

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/internal/spec/fastyaml"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Defaults of the monitor file.
const (
	DefaultInterval         = 30 * time.Second
	DefaultTimeout          = 5 * time.Second
	DefaultMaxFailures      = 3
	DefaultHealthyThreshold = 2
	DefaultMaxPerWindow     = 3
	DefaultWindow           = time.Hour
	maxNameLength           = 256

	// MinInterval and MinTimeout are the floors of a check's interval and
	// timeout. Below ten scheduler ticks an interval is noise, and the
	// checks of a mistyped `1ns` would run on every tick; a timeout under
	// one tick cannot be honoured.
	MinInterval = 100 * time.Millisecond
	MinTimeout  = 10 * time.Millisecond
	// MaxPerWindow bounds intervention.max_per_window: the guard counts
	// interventions in 8 bits.
	MaxPerWindow = 255
)

// Monitor is one validated monitor with its kind instances resolved.
type Monitor struct {
	Name    string
	Line    int
	Enabled bool
	Groups  []string // sorted, deduplicated
	// Metrics opts the monitor in to per-monitor series: its own
	// `metrics:` when set, otherwise whether one of its groups is listed
	// in the file's `metrics: {groups: [...]}`.
	Metrics bool

	Pulse        Pulse
	Intervention *Intervention // nil when the monitor has none
	Codes        Codes

	// Hash fingerprints the monitor's whole definition; a reload keeps the
	// running state of monitors whose hash is unchanged.
	Hash uint64
	// ProfileKey identifies everything but the name and address, so the
	// world can share one profile between monitors that differ only there.
	ProfileKey spec.Key
	// Instances names the shared instances the monitor uses.
	Instances InstanceKeys
}

// InstanceKeys name the shared prober, remedy and notifiers a monitor uses
// (the zero Key: none), so that a reload that keeps the monitor without
// parsing it again keeps them too (Instances.Adopt).
type InstanceKeys struct {
	Prober    spec.Key
	Remedy    spec.Key
	Notifiers [domain.Gray + 1]spec.Key
}

// Pulse is a monitor's check.
type Pulse struct {
	Type     string
	Interval time.Duration
	// RetryInterval replaces Interval while the monitor is degraded or
	// verifying, to confirm an outage or a recovery sooner.
	RetryInterval    time.Duration
	Timeout          time.Duration
	MaxFailures      int // unhealthy threshold
	HealthyThreshold int
	Address          string
	Prober           pulse.Prober
}

// Intervention is a monitor's remediation and its restart-loop guard.
type Intervention struct {
	Type         string
	MaxPerWindow int
	Window       time.Duration
	Remedy       intervention.Remedy
	// OnAlert lets a firing critical alert about the monitor, received on
	// the Alertmanager webhook, start the intervention (`on_alert: true`).
	OnAlert bool
}

// Route is where one colour goes.
type Route struct {
	Configured bool // the colour has its own entry in `codes:`
	Dispatch   bool
	Notifier   code.Notifier
}

// Codes routes each colour, indexed by domain.Code.
type Codes [domain.Gray + 1]Route

// Targets returns the notifiers a code goes to: its own entry when the
// colour is configured, otherwise every notifier configured for the
// monitor's other colours, so a recovery or maintenance code reaches the
// receivers that heard about the incident. `dispatch: false` sends nothing,
// and a colour sent nowhere is no fallback for the others: its notifier
// never heard about the incident.
func (c *Codes) Targets(k domain.Code) []code.Notifier {
	r := c[k]
	if r.Configured {
		if !r.Dispatch || r.Notifier == nil {
			return nil
		}
		return []code.Notifier{r.Notifier}
	}
	var out []code.Notifier
	for _, other := range domain.All {
		o := c[other]
		if o.Configured && o.Dispatch && o.Notifier != nil && !slices.Contains(out, o.Notifier) {
			out = append(out, o.Notifier)
		}
	}
	return out
}

// Monitors is a loaded monitor file.
type Monitors struct {
	File      string
	Monitors  []Monitor
	Instances *Instances
	// AlertmanagerWebhook is the file's `alertmanager_webhook:` section.
	AlertmanagerWebhook WebhookRoutes
	// Unchanged answers the running hashes given to ParseChanges: for each
	// of them, the line where the file still defines that monitor word for
	// word, or 0. Those monitors were not parsed again and are not in
	// Monitors; the caller keeps them as they run.
	Unchanged []int32
}

// WebhookRoutes says where alerts received on POST
// /api/v1/alertmanager/webhook go when they name no monitor of this agent
// (no cpra_monitor label, or a name not in the file): its Codes route each
// colour as a monitor's `codes:` do. Without the section such alerts are
// counted as unrouted and logged.
type WebhookRoutes struct {
	Codes Codes
}

// Count is how many monitors the file holds: those parsed and those kept
// unchanged.
func (ms *Monitors) Count() int {
	n := len(ms.Monitors)
	for _, line := range ms.Unchanged {
		if line != 0 {
			n++
		}
	}
	return n
}

// DeclaresMonitors reports whether data has a `monitors:` list, even an
// empty one: an empty file, or one without the key, is more likely a
// mistake (a truncated write, the wrong file) than a wish to stop
// monitoring everything.
func DeclaresMonitors(data []byte) bool {
	var top struct {
		Monitors yaml.Node `yaml:"monitors"`
	}
	return yaml.Unmarshal(data, &top) == nil && top.Monitors.Kind == yaml.SequenceNode
}

// Error is one problem in a monitor file, located by file, line and monitor.
type Error struct {
	File    string
	Line    int
	Monitor string // empty for problems outside a monitor
	Field   string
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Monitor != "" {
		fmt.Fprintf(&b, "monitor %q: ", e.Monitor)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// raw* mirror the file format for strict decoding.
type rawFile struct {
	Monitors            []yaml.Node             `yaml:"monitors"`
	Metrics             *rawMetrics             `yaml:"metrics"`
	AlertmanagerWebhook *rawAlertmanagerWebhook `yaml:"alertmanager_webhook"`
}

// rawAlertmanagerWebhook is the file's `alertmanager_webhook:` section: the
// default route of alerts received from Alertmanager.
type rawAlertmanagerWebhook struct {
	Codes *rawCodes `yaml:"codes"`
}

// rawMetrics is the file's `metrics:` section: settings of the per-monitor
// series that apply to groups of monitors.
type rawMetrics struct {
	Groups spec.StringList `yaml:"groups"` // every monitor in one of these opts in
}

type rawMonitor struct {
	Name         string           `yaml:"name"`
	Enabled      *bool            `yaml:"enabled"`
	Metrics      *bool            `yaml:"metrics"`
	Groups       spec.StringList  `yaml:"groups"`
	Pulse        *rawPulse        `yaml:"pulse_check"`
	Intervention *rawIntervention `yaml:"intervention"`
	Codes        *rawCodes        `yaml:"codes"`
}

type rawPulse struct {
	Type               string         `yaml:"type"`
	Interval           *spec.Duration `yaml:"interval"`
	RetryInterval      *spec.Duration `yaml:"retry_interval"`
	Timeout            *spec.Duration `yaml:"timeout"`
	MaxFailures        *int           `yaml:"max_failures"`
	UnhealthyThreshold *int           `yaml:"unhealthy_threshold"`
	HealthyThreshold   *int           `yaml:"healthy_threshold"`
	Config             spec.Block     `yaml:"config"`
}

type rawIntervention struct {
	Type         string         `yaml:"type"`
	MaxPerWindow *int           `yaml:"max_per_window"`
	Window       *spec.Duration `yaml:"window"`
	OnAlert      *bool          `yaml:"on_alert"`
	Config       spec.Block     `yaml:"config"`
}

type rawCodes struct {
	Yellow *rawCode `yaml:"yellow"`
	Red    *rawCode `yaml:"red"`
	Cyan   *rawCode `yaml:"cyan"`
	Green  *rawCode `yaml:"green"`
	Gray   *rawCode `yaml:"gray"`
}

func (r *rawCodes) byCode() [domain.Gray + 1]*rawCode {
	return [domain.Gray + 1]*rawCode{domain.Yellow: r.Yellow, domain.Red: r.Red, domain.Cyan: r.Cyan, domain.Green: r.Green, domain.Gray: r.Gray}
}

type rawCode struct {
	Dispatch *bool      `yaml:"dispatch"`
	Notify   string     `yaml:"notify"`
	Config   spec.Block `yaml:"config"`
}

// ParseMonitors validates a monitor file's contents. Every problem is
// reported: the error is an errors.Join of *Error, each naming the file,
// line, monitor and field. name labels the errors.
//
// Large files are loaded on every core: a file of the usual shape is cut
// into one chunk per monitor (splitMonitors), and each chunk is parsed and
// validated independently; only instance building is shared.
func ParseMonitors(name string, data []byte, kinds *Kinds, prev *Instances) (*Monitors, error) {
	return ParseChanges(name, data, kinds, prev, nil)
}

// ParseChanges is ParseMonitors for a reload: running holds the Hash of
// every monitor in effect, and a monitor whose text (and the file's other
// sections) is byte for byte what produced one of them is not parsed
// again but reported in Monitors.Unchanged. A reload of a large file that
// changes a few monitors then costs a read and a hash of the file, not a
// parse of every monitor. Only files that splitMonitors can cut, and that
// have no `metrics.groups` (whose use is checked across all monitors), are
// compared; other files are parsed whole.
func ParseChanges(name string, data []byte, kinds *Kinds, prev *Instances, running []uint64) (*Monitors, error) {
	instances := prev
	if instances == nil {
		instances = newInstances() // nothing to reuse
	}
	sh := &shared{file: name, kinds: kinds, prev: instances, next: newInstances()}
	if len(running) > 0 {
		sh.running = make(map[uint64]int32, len(running))
		for i, h := range running {
			sh.running[h] = int32(i)
		}
		sh.claimed = make([]atomic.Bool, len(running))
		sh.unchanged = make([]int32, len(running))
	}
	out := &Monitors{File: name, Instances: sh.next}
	results, err := sh.load(data)
	if err != nil {
		return nil, err
	}
	out.Unchanged = sh.unchanged
	var errs []error
	parsed := 0
	for _, r := range results {
		if r != nil {
			parsed++
		}
	}
	seen := make(map[string]int, parsed)
	out.Monitors = make([]Monitor, 0, parsed)
	for _, r := range results {
		if r == nil {
			continue // unchanged: in out.Unchanged
		}
		errs = append(errs, r.errs...)
		m := r.m
		// Duplicates are found among invalid monitors too, so that fixing
		// one error does not reveal another.
		if m.Name != "" {
			if first, dup := seen[m.Name]; dup {
				errs = append(errs, &Error{File: name, Line: m.Line, Monitor: m.Name, Field: "name",
					Msg: fmt.Sprintf("duplicate monitor name (first defined on line %d)", first)})
				continue
			}
			seen[m.Name] = m.Line
		}
		if r.ok {
			out.Monitors = append(out.Monitors, m)
		}
	}
	errs = append(errs, sh.unusedMetricGroups(results)...)
	out.AlertmanagerWebhook = sh.webhook
	if len(errs) > 0 {
		// Report in the order of the file.
		slices.SortStableFunc(errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
		_ = sh.next.CloseUnused(context.Background(), prev)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// result is one monitor as loaded, with its problems.
type result struct {
	m    Monitor
	ok   bool
	errs []error
}

// load parses data and loads every monitor, in parallel where it can.
// The file's other top-level sections are loaded first: the monitors
// depend on them (metrics.groups).
func (sh *shared) load(data []byte) ([]*result, error) {
	if sp, ok := splitMonitors(data); ok {
		if top, ok := sh.loadTop(sp.before, sp.after); ok {
			if results, ok := sh.loadChunks(sp.chunks); ok {
				return append(results, &top), nil
			}
		}
		// A chunk did not parse on its own (an alias to another monitor's
		// anchor, or a syntax error): the whole document decides.
	}
	doc, err := parseYAML(data)
	if err != nil {
		// The parser's "line N" is where the enclosing block starts, not
		// always where the mistake is (go-yaml/yaml#1066), so it stays in
		// the message rather than becoming the error's line.
		return nil, &Error{File: sh.file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // an empty file has no monitors
	}
	top := sh.worker(-1)
	monitors := top.topLevel(doc.Content[0])
	results := make([]*result, len(monitors)+1)
	results[len(monitors)] = &result{errs: top.errs}
	parallel(len(monitors), func(i int) {
		r := sh.worker(i).monitor(&monitors[i])
		results[i] = &r
	})
	return results, nil
}

// loadTop loads the top-level sections other than `monitors:` of a split
// file: the text before and after the monitors. ok is false when that text
// is not a mapping on its own, or has a `monitors` key of its own; the
// whole document then decides.
func (sh *shared) loadTop(parts ...chunk) (result, bool) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, part := range parts {
		if len(part.data) == 0 {
			continue
		}
		doc, err := parseYAML(part.data)
		if err != nil {
			return result{}, false
		}
		if doc.Kind == 0 || len(doc.Content) == 0 {
			continue // comments only
		}
		m := doc.Content[0]
		if m.Kind != yaml.MappingNode {
			return result{}, false
		}
		shiftLines(m, part.line-1)
		if root.Line == 0 {
			root.Line, root.Column = m.Line, m.Column
		}
		root.Content = append(root.Content, m.Content...)
	}
	for i := 0; i < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "monitors" || k == "<<" {
			return result{}, false
		}
	}
	top := sh.worker(-1)
	top.topLevel(root)
	return result{errs: top.errs}, true
}

// topLevel decodes the file's top-level mapping: it records the `metrics:`
// and `alertmanager_webhook:` sections and returns the monitors' nodes.
func (l *loader) topLevel(root *yaml.Node) []yaml.Node {
	l.sh.metricGroups = nil
	l.sh.webhook = WebhookRoutes{}
	var rf rawFile
	err := spec.DecodeNode(root, &rf, "")
	if err != nil {
		l.addSpec("", err)
	}
	if w := rf.AlertmanagerWebhook; w != nil && w.Codes != nil && !sectionBroken(err, "alertmanager_webhook") {
		codes := blockValue(blockValue(root, "alertmanager_webhook").Node, "codes")
		l.sh.webhook.Codes = l.codes("alertmanager_webhook.", w.Codes, codes)
	}
	if sectionBroken(err, "metrics") {
		return rf.Monitors // a broken section opts nobody in, and is all that is reported about it
	}
	if rf.Metrics == nil {
		return rf.Monitors
	}
	groups := blockValue(blockValue(root, "metrics").Node, "groups")
	lineOf := func(i int) int {
		if n := groups.Node; n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
			return n.Content[i].Line
		}
		return groups.Line
	}
	l.sh.metricGroups = make(map[string]int, len(rf.Metrics.Groups))
	for i, g := range rf.Metrics.Groups {
		if g == "" {
			l.add(lineOf(i), "", fmt.Sprintf("metrics.groups[%d]", i), "must not be empty")
			continue
		}
		if _, dup := l.sh.metricGroups[g]; !dup {
			l.sh.metricGroups[strings.Clone(g)] = lineOf(i)
		}
	}
	return rf.Monitors
}

// sectionBroken reports whether a decode error is about the top-level
// section: a broken section is not built, its decode errors say it all.
func sectionBroken(err error, section string) bool {
	for _, e := range spec.Flatten(err) {
		if se, ok := e.(*spec.Error); ok && (se.Field == section || strings.HasPrefix(se.Field, section+".")) {
			return true
		}
	}
	return false
}

// unusedMetricGroups reports the groups of `metrics.groups` that no monitor
// is in: almost always a typo, which would otherwise silently opt nobody in.
func (sh *shared) unusedMetricGroups(results []*result) []error {
	if len(sh.metricGroups) == 0 {
		return nil
	}
	used := make(map[string]bool, len(sh.metricGroups))
	for _, r := range results {
		for _, g := range r.m.Groups {
			if _, ok := sh.metricGroups[g]; ok {
				used[g] = true
			}
		}
	}
	var errs []error
	for _, g := range slices.Sorted(maps.Keys(sh.metricGroups)) {
		if !used[g] {
			errs = append(errs, &Error{File: sh.file, Line: sh.metricGroups[g], Field: "metrics.groups",
				Msg: fmt.Sprintf("no monitor is in group %q", g)})
		}
	}
	return errs
}

// loadChunks parses and loads one chunk per monitor. ok is false when a
// chunk is not valid YAML on its own. A monitor's Hash is that of its
// text, what a reload compares. Without `metrics.groups` the text is all
// that defines a monitor; with it, the opt-in the groups give changes the
// hash, and nothing is compared (whether a group is used is checked across
// all monitors). The results of unchanged monitors are nil: they are
// recorded in sh.unchanged instead.
func (sh *shared) loadChunks(chunks []chunk) ([]*result, bool) {
	results := make([]*result, len(chunks))
	byGroups := len(sh.metricGroups) > 0
	compare := sh.running != nil && !byGroups
	var failed atomic.Bool
	parallel(len(chunks), func(i int) {
		if failed.Load() {
			return
		}
		hash := maphash.Bytes(textSeed, chunks[i].data)
		if compare {
			// The first chunk with a running monitor's text keeps it; a
			// copy of it is parsed, and the world reports the duplicate.
			if idx, ok := sh.running[hash]; ok && sh.claimed[idx].CompareAndSwap(false, true) {
				sh.unchanged[idx] = int32(chunks[i].line)
				return
			}
		}
		// The tree lives only until the monitor is validated (nothing keeps
		// nodes), so each worker reuses its parser's memory.
		fp := chunkParsers.Get().(*fastyaml.Parser)
		defer chunkParsers.Put(fp)
		doc, ok := fp.Parse(chunks[i].data)
		var err error
		if !ok {
			doc, err = parseYAML(chunks[i].data)
		}
		if err != nil && !strings.Contains(err.Error(), "unknown anchor") {
			// A mistake inside this monitor's text: reported from here, at
			// its place in the file, without parsing the whole file again
			// (a node tree of every monitor, several times the file's size,
			// only to find the same mistake).
			results[i] = &result{errs: []error{&Error{File: sh.file, Msg: "invalid YAML: " + shiftErrorLine(err, chunks[i].line-1)}}}
			return
		}
		if err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) != 1 {
			// An alias to another monitor's anchor, or a chunk that is not
			// one item: the whole document decides.
			failed.Store(true)
			return
		}
		item := doc.Content[0].Content[0]
		shiftLines(item, chunks[i].line-1)
		r := sh.worker(i).monitor(item)
		if byGroups && r.m.Metrics {
			hash = ^hash // opted in by a group: not what the text alone says
		}
		r.m.Hash = hash
		results[i] = &r
	})
	return results, !failed.Load()
}

var textSeed = maphash.MakeSeed()

// yamlLine is the line yaml.v3 names in its errors.
var yamlLine = regexp.MustCompile(`^(yaml: )?line (\d+): `)

// shiftErrorLine is a chunk's yaml.v3 error with its line moved to the
// line in the file.
func shiftErrorLine(err error, by int) string {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "yaml: ")
	}
	n, _ := strconv.Atoi(m[2])
	return fmt.Sprintf("line %d: %s", n+by, msg[len(m[0]):])
}

var chunkParsers = sync.Pool{New: func() any { return new(fastyaml.Parser) }}

// parallel calls f(0..n-1) on every core, in contiguous batches.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/256))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	const batch = 64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(batch)) - batch
				if start >= n {
					return
				}
				for i := start; i < min(start+batch, n); i++ {
					f(i)
				}
			}
		})
	}
	wg.Wait()
}

// shiftLines moves a chunk's node lines to their place in the file.
func shiftLines(n *yaml.Node, by int) {
	if n == nil || n.Line == 0 && len(n.Content) == 0 {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// parseYAML parses one document: with fastyaml when the text is in its
// subset (about ten times faster), otherwise with yaml.v3, which also gives
// the error messages.
func parseYAML(data []byte) (*yaml.Node, error) {
	if doc, ok := fastyaml.Parse(data); ok {
		return doc, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// shared is what the loaders of one file share: the kinds and the instances,
// built once per distinct configuration.
type shared struct {
	file  string
	kinds *Kinds
	prev  *Instances // the running configuration's; empty, never nil, on a first load

	// metricGroups are the groups whose monitors opt in to per-monitor
	// series, with their lines; set before the monitors load, then only read.
	metricGroups map[string]int
	webhook      WebhookRoutes // the `alertmanager_webhook:` section

	// running maps the hash of each monitor in effect to its index, on a
	// reload that compares (ParseChanges); claimed marks those matched.
	running   map[uint64]int32
	claimed   []atomic.Bool
	unchanged []int32 // Monitors.Unchanged

	mu   sync.Mutex // guards next
	next *Instances
}

func (sh *shared) worker(idx int) *loader {
	return &loader{sh: sh, file: sh.file, kinds: sh.kinds, idx: idx}
}

// prober returns the shared prober for key and the monitor's address. Only
// the first monitor with a configuration builds a prober; the others have
// just their address validated when the kind allows it.
func (sh *shared) prober(k pulse.Kind, key spec.Key, cfg spec.Block) (pulse.Prober, string, error) {
	sh.mu.Lock()
	existing, ok := adopt(sh.next.probers, sh.prev.probers, key)
	sh.mu.Unlock()
	if ok && k.Address != nil {
		addr, err := k.Address(cfg)
		return existing, addr, err
	}
	p, addr, err := k.New(cfg, sh.kinds.depsFor("check", k.Name))
	if err != nil {
		return nil, "", err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if existing, ok := sh.next.probers[key]; ok {
		return existing, addr, nil // another worker built it first
	}
	sh.next.probers[key] = p
	return p, addr, nil
}

// remedy returns the shared remedy for key, building it at most once.
func (sh *shared) remedy(k intervention.Kind, key spec.Key, cfg spec.Block) (intervention.Remedy, error) {
	return buildOnce(&sh.mu, sh.next.remedies, sh.prev.remedies, key, func() (intervention.Remedy, error) {
		return k.New(cfg, sh.kinds.depsFor("intervention", k.Name))
	})
}

// notifier returns the shared notifier for key, building it at most once
// (a notifier may open a file or start a resend loop).
func (sh *shared) notifier(k code.Kind, key spec.Key, cfg spec.Block) (code.Notifier, error) {
	return buildOnce(&sh.mu, sh.next.notifiers, sh.prev.notifiers, key, func() (code.Notifier, error) {
		return k.New(cfg, sh.kinds.depsFor("notifier", k.Name))
	})
}

// adopt finds key's instance in this load, or in the running configuration
// and then takes it over. Callers hold the shared lock.
func adopt[T any](next, prev map[spec.Key]T, key spec.Key) (T, bool) {
	if v, ok := next[key]; ok {
		return v, true
	}
	if v, ok := prev[key]; ok {
		next[key] = v
		return v, true
	}
	var zero T
	return zero, false
}

// buildOnce returns key's instance, building it under mu when neither this
// load nor the running configuration has one.
func buildOnce[T any](mu *sync.Mutex, next, prev map[spec.Key]T, key spec.Key, build func() (T, error)) (T, error) {
	mu.Lock()
	defer mu.Unlock()
	if v, ok := adopt(next, prev, key); ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	next[key] = v
	return v, nil
}

// loader validates monitors one at a time; each worker has its own.
type loader struct {
	sh    *shared
	file  string
	kinds *Kinds
	errs  []error
	cur   string // monitor being loaded, for error messages
	idx   int    // its index in the file, -1 outside monitors
	// bad holds the fields of the current monitor that failed to decode.
	// Their decode error is the only one reported: no check runs on the
	// zero value the decoder left behind.
	bad map[string]bool
	// keys are the instances the current monitor uses.
	keys InstanceKeys
}

// add records an error. A monitor without a name is named by its index,
// "monitors[2].pulse_check", so that every error says which monitor it is.
func (l *loader) add(line int, monitor, field, msg string) {
	if monitor == "" && l.idx >= 0 {
		index := fmt.Sprintf("monitors[%d]", l.idx)
		if field == "" {
			field = index
		} else {
			field = index + "." + field
		}
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Monitor: spec.Shorten(monitor), Field: field, Msg: spec.Shorten(msg)})
}

// addSpec converts spec errors into file errors for the current monitor.
func (l *loader) addSpec(prefix string, err error) {
	for _, e := range spec.Flatten(spec.Prefix(prefix, err)) {
		var se *spec.Error
		if errors.As(e, &se) {
			l.add(se.Line, l.cur, se.Field, se.Msg)
			continue
		}
		l.add(0, l.cur, prefix, e.Error())
	}
}

func (l *loader) monitor(node *yaml.Node) result {
	m, ok := l.load(node)
	return result{m: m, ok: ok, errs: l.errs}
}

func (l *loader) load(node *yaml.Node) (Monitor, bool) {
	var rm rawMonitor
	l.cur = ""
	l.keys = InstanceKeys{}
	decodeErr := spec.DecodeNode(node, &rm, "")
	l.bad = nil
	for _, e := range spec.Flatten(decodeErr) {
		if se, ok := e.(*spec.Error); ok {
			if l.bad == nil {
				l.bad = map[string]bool{}
			}
			l.bad[se.Field] = true
		}
	}
	if l.bad["name"] {
		rm.Name = ""
	}
	l.cur = rm.Name
	if decodeErr != nil {
		l.addSpec("", decodeErr)
	}
	m := Monitor{Name: strings.Clone(rm.Name), Line: node.Line, Enabled: rm.Enabled == nil || *rm.Enabled}
	if node.Kind != yaml.MappingNode {
		return m, false // "expected a mapping" says it all
	}
	block := spec.Block{Node: node, Line: node.Line}
	if msg := checkName(rm.Name); msg != "" && !l.bad["name"] {
		l.add(block.LineOf("name"), rm.Name, "name", msg)
	}
	m.Groups = normalizeGroups(rm.Groups)
	m.Metrics = l.optedIn(rm.Metrics, m.Groups)
	switch {
	case l.bad["pulse_check"]:
	case rm.Pulse == nil:
		l.add(node.Line, rm.Name, "pulse_check", "required")
	default:
		m.Pulse = l.pulse(rm.Pulse, blockValue(node, "pulse_check"))
	}
	if rm.Intervention != nil && !l.bad["intervention"] {
		m.Intervention = l.intervention(rm.Intervention, blockValue(node, "intervention"))
	}
	if rm.Codes != nil && !l.bad["codes"] {
		m.Codes = l.codes("", rm.Codes, blockValue(node, "codes"))
	}
	if len(l.errs) > 0 {
		return m, false
	}
	// The opt-in may come from the file's metrics section, outside the
	// monitor's node: both fingerprints include it.
	m.Hash = spec.NewFingerprint().Node(node).String(strconv.FormatBool(m.Metrics)).Sum64()
	m.ProfileKey = profileKey(node, m)
	m.Instances = l.keys
	return m, true
}

// optedIn says whether a monitor has per-monitor series: its own
// `metrics:` wins; without it, whether one of its groups opted in.
func (l *loader) optedIn(own *bool, groups []string) bool {
	if own != nil && !l.bad["metrics"] {
		return *own
	}
	for _, g := range groups {
		if _, ok := l.sh.metricGroups[g]; ok {
			return true
		}
	}
	return false
}

// profileKey identifies the monitor without its name and address: the
// rest of its definition (with its effective opt-in to per-monitor series
// rather than its own metrics key), and the shared prober its check config
// resolved to.
func profileKey(node *yaml.Node, m Monitor) spec.Key {
	f := spec.NewFingerprint().Node(node, "name", "pulse_check", "metrics")
	f.String(strconv.FormatBool(m.Metrics))
	f.String(m.Pulse.Type).String(m.Pulse.Interval.String()).String(m.Pulse.Timeout.String())
	f.String(fmt.Sprint(m.Pulse.MaxFailures, m.Pulse.HealthyThreshold))
	f.String(fmt.Sprintf("%p", m.Pulse.Prober))
	return f.Key()
}

// keyLine returns the line of key in b, or the line of the key that
// introduced b when key is absent: an error about a missing key points at
// the block that lacks it rather than at the block's first entry.
func keyLine(b spec.Block, key string) int {
	if b.Has(key) {
		return b.LineOf(key)
	}
	if b.Line > 0 {
		return b.Line
	}
	return b.LineOf(key)
}

// blockValue returns the value of key in the mapping node, following
// aliases and merge keys ("<<") as the decoder does. An absent key gives a
// Block without a node, located at the mapping.
func blockValue(node *yaml.Node, key string) spec.Block {
	node = spec.ResolveAlias(node)
	if node == nil {
		return spec.Block{}
	}
	if node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				return spec.Block{Node: spec.ResolveAlias(node.Content[i+1]), Line: node.Content[i].Line}
			}
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == "<<" {
				if b := blockValue(node.Content[i+1], key); b.Node != nil {
					return b
				}
			}
		}
	}
	return spec.Block{Line: node.Line}
}

func checkName(name string) string {
	switch {
	case name == "":
		return "required"
	case len(name) > maxNameLength:
		return fmt.Sprintf("longer than %d bytes", maxNameLength)
	case strings.TrimSpace(name) != name:
		return "must not start or end with spaces"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	}
	if i := strings.IndexFunc(name, invisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Sprintf("must not contain invisible or bidirectional control characters (U+%04X at byte %d): the name could pose as another", r, i)
	}
	return ""
}

// invisible reports characters that show as nothing, as a plain space, or
// reorder the text around them: format characters (zero-width space and
// joiners, bidirectional overrides and isolates, the byte-order mark, the
// soft hyphen), spaces other than U+0020, and the Hangul fillers.
func invisible(r rune) bool {
	switch {
	case unicode.Is(unicode.Cf, r), unicode.IsSpace(r) && r != ' ':
		return true
	}
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0':
		return true
	}
	return false
}

func normalizeGroups(g spec.StringList) []string {
	if len(g) == 0 {
		return nil
	}
	out := make([]string, len(g))
	for i, s := range g {
		out[i] = strings.Clone(s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (l *loader) pulse(rp *rawPulse, b spec.Block) Pulse {
	p := Pulse{
		Type:             rp.Type,
		Interval:         DefaultInterval,
		Timeout:          DefaultTimeout,
		MaxFailures:      DefaultMaxFailures,
		HealthyThreshold: DefaultHealthyThreshold,
	}
	badInterval, badTimeout := l.bad["pulse_check.interval"], l.bad["pulse_check.timeout"]
	if rp.Interval != nil && !badInterval {
		p.Interval = rp.Interval.Std()
		if p.Interval < MinInterval {
			l.add(b.LineOf("interval"), l.cur, "pulse_check.interval", fmt.Sprintf("must be at least %v, got %v", MinInterval, p.Interval))
			badInterval = true
		}
	}
	if rp.Timeout != nil && !badTimeout {
		p.Timeout = rp.Timeout.Std()
		if p.Timeout < MinTimeout {
			l.add(b.LineOf("timeout"), l.cur, "pulse_check.timeout", fmt.Sprintf("must be at least %v, got %v", MinTimeout, p.Timeout))
			badTimeout = true
		}
	} else if rp.Timeout == nil && p.Timeout > p.Interval {
		p.Timeout = p.Interval // the default timeout never exceeds a short interval
	}
	if p.Timeout > p.Interval && p.Interval > 0 && !badInterval && !badTimeout {
		msg := fmt.Sprintf("%v is longer than the interval %v", p.Timeout, p.Interval)
		if rp.Interval == nil {
			msg += " (the default interval; set a longer one or a shorter timeout)"
		}
		l.add(b.LineOf("timeout"), l.cur, "pulse_check.timeout", msg)
	}
	p.RetryInterval = p.Interval
	if rp.RetryInterval != nil && !l.bad["pulse_check.retry_interval"] {
		ri := rp.RetryInterval.Std()
		switch {
		case ri < MinInterval:
			l.add(b.LineOf("retry_interval"), l.cur, "pulse_check.retry_interval", fmt.Sprintf("must be at least %v, got %v", MinInterval, ri))
		case ri > p.Interval && !badInterval:
			l.add(b.LineOf("retry_interval"), l.cur, "pulse_check.retry_interval", fmt.Sprintf("%v is longer than the interval %v", ri, p.Interval))
		case p.Timeout > ri && !badTimeout:
			l.add(b.LineOf("retry_interval"), l.cur, "pulse_check.retry_interval", fmt.Sprintf("%v is shorter than the timeout %v", ri, p.Timeout))
		default:
			p.RetryInterval = ri
		}
	}
	if l.bad["pulse_check.max_failures"] {
		rp.MaxFailures = nil
	}
	if l.bad["pulse_check.unhealthy_threshold"] {
		rp.UnhealthyThreshold = nil
	}
	if l.bad["pulse_check.healthy_threshold"] {
		rp.HealthyThreshold = nil
	}
	switch {
	case rp.MaxFailures != nil && rp.UnhealthyThreshold != nil && *rp.MaxFailures != *rp.UnhealthyThreshold:
		l.add(b.LineOf("unhealthy_threshold"), l.cur, "pulse_check.unhealthy_threshold",
			fmt.Sprintf("conflicts with max_failures (%d vs %d); they are aliases, set one", *rp.UnhealthyThreshold, *rp.MaxFailures))
	case rp.MaxFailures != nil:
		p.MaxFailures = *rp.MaxFailures
	case rp.UnhealthyThreshold != nil:
		p.MaxFailures = *rp.UnhealthyThreshold
	}
	if p.MaxFailures < 1 {
		key := "max_failures"
		if rp.MaxFailures == nil {
			key = "unhealthy_threshold"
		}
		l.add(b.LineOf(key), l.cur, "pulse_check."+key, fmt.Sprintf("must be at least 1, got %d", p.MaxFailures))
	}
	if rp.HealthyThreshold != nil {
		p.HealthyThreshold = *rp.HealthyThreshold
		if p.HealthyThreshold < 1 {
			l.add(b.LineOf("healthy_threshold"), l.cur, "pulse_check.healthy_threshold",
				fmt.Sprintf("must be at least 1, got %d", p.HealthyThreshold))
		}
	}
	if rp.Type == "" {
		if !l.bad["pulse_check.type"] {
			l.add(keyLine(b, "type"), l.cur, "pulse_check.type", "required (one of: "+names(l.kinds.pulse)+")")
		}
		return p
	}
	kind, ok := l.kinds.pulse[rp.Type]
	if !ok {
		l.add(b.LineOf("type"), l.cur, "pulse_check.type",
			fmt.Sprintf("unknown check type %q (one of: %s)", rp.Type, names(l.kinds.pulse)))
		return p
	}
	if l.bad["pulse_check.config"] {
		return p
	}
	cfg := rp.Config
	if cfg.Node == nil {
		cfg.Line = keyLine(b, "config")
	}
	key := blockKey(rp.Type, cfg, kind.AddressKeys...)
	prober, addr, err := l.sh.prober(kind, key, cfg)
	if err != nil {
		l.addSpec("pulse_check.config", err)
		return p
	}
	l.keys.Prober = key
	// Clone: parsed text shares memory with the whole monitor's source, and
	// the world keeps this string for the monitor's life.
	p.Prober, p.Address = prober, strings.Clone(addr)
	return p
}

func (l *loader) intervention(ri *rawIntervention, b spec.Block) *Intervention {
	iv := &Intervention{Type: ri.Type, MaxPerWindow: DefaultMaxPerWindow, Window: DefaultWindow}
	if ri.MaxPerWindow != nil && !l.bad["intervention.max_per_window"] {
		iv.MaxPerWindow = *ri.MaxPerWindow
		if iv.MaxPerWindow < 1 || iv.MaxPerWindow > MaxPerWindow {
			l.add(b.LineOf("max_per_window"), l.cur, "intervention.max_per_window",
				fmt.Sprintf("must be between 1 and %d, got %d", MaxPerWindow, iv.MaxPerWindow))
		}
	}
	if ri.OnAlert != nil && !l.bad["intervention.on_alert"] {
		iv.OnAlert = *ri.OnAlert
	}
	if ri.Window != nil && !l.bad["intervention.window"] {
		iv.Window = ri.Window.Std()
		if iv.Window <= 0 {
			l.add(b.LineOf("window"), l.cur, "intervention.window", "must be greater than zero")
		}
	}
	if ri.Type == "" {
		if !l.bad["intervention.type"] {
			l.add(keyLine(b, "type"), l.cur, "intervention.type", "required (one of: "+names(l.kinds.intervention)+")")
		}
		return iv
	}
	kind, ok := l.kinds.intervention[ri.Type]
	if !ok {
		l.add(b.LineOf("type"), l.cur, "intervention.type",
			fmt.Sprintf("unknown intervention type %q (one of: %s)", ri.Type, names(l.kinds.intervention)))
		return iv
	}
	if l.bad["intervention.config"] {
		return iv
	}
	cfg := ri.Config
	if cfg.Node == nil {
		cfg.Line = keyLine(b, "config")
	}
	key := blockKey(ri.Type, cfg)
	r, err := l.sh.remedy(kind, key, cfg)
	if err != nil {
		l.addSpec("intervention.config", err)
		return iv
	}
	l.keys.Remedy = key
	iv.Remedy = r
	return iv
}

// codes builds the routes of a `codes:` block; prefix is the path of the
// section holding it ("" in a monitor).
func (l *loader) codes(prefix string, rc *rawCodes, b spec.Block) Codes {
	var out Codes
	for _, c := range domain.All {
		r := rc.byCode()[c]
		field := prefix + "codes." + c.String()
		if r == nil || l.bad[field] {
			continue
		}
		cb := blockValue(b.Node, c.String())
		route := Route{Configured: true, Dispatch: r.Dispatch == nil || *r.Dispatch}
		out[c] = route
		if r.Notify == "" {
			if route.Dispatch && !l.bad[field+".notify"] {
				l.add(keyLine(cb, "notify"), l.cur, field+".notify", "required (one of: "+names(l.kinds.notify)+")")
			}
			continue
		}
		kind, ok := l.kinds.notify[r.Notify]
		if !ok {
			l.add(cb.LineOf("notify"), l.cur, field+".notify",
				fmt.Sprintf("unknown notifier %q (one of: %s)", r.Notify, names(l.kinds.notify)))
			continue
		}
		if l.bad[field+".config"] {
			continue
		}
		cfg := r.Config
		if cfg.Node == nil {
			cfg.Line = keyLine(cb, "config")
		}
		key := blockKey(r.Notify, cfg)
		n, err := l.sh.notifier(kind, key, cfg)
		if err != nil {
			l.addSpec(field+".config", err)
			continue
		}
		if prefix == "" {
			l.keys.Notifiers[c] = key
		}
		route.Notifier = n
		out[c] = route
	}
	return out
}

// blockKey identifies a kind's instance: its kind and its block's content,
// without the keys in skip.
func blockKey(kind string, b spec.Block, skip ...string) spec.Key {
	f := spec.NewFingerprint().String(kind)
	if b.Node != nil {
		f.Node(b.Node, skip...)
	}
	return f.Key()
}
