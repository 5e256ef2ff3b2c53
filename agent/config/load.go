package config

import (
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

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/internal/spec/fastyaml"
)

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

// ParseChanges is ParseMonitors for a reload: running holds the Source of
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
		instances = newInstances(kinds) // nothing to reuse
	}
	sh := &shared{file: name, kinds: kinds, prev: instances, next: newInstances(kinds)}
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
		sortByLine(errs)
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
// chunk is not valid YAML on its own. A monitor's Source is the hash of its
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
		r.m.Source = hash
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
