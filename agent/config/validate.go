package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
)

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

// byCode returns the fields of r indexed by colour.
func (r *rawCodes) byCode() [domain.Gray + 1]**rawCode {
	return [domain.Gray + 1]**rawCode{domain.Yellow: &r.Yellow, domain.Red: &r.Red, domain.Cyan: &r.Cyan, domain.Green: &r.Green, domain.Gray: &r.Gray}
}

type rawCode struct {
	Dispatch *bool      `yaml:"dispatch"`
	Notify   string     `yaml:"notify"`
	Config   spec.Block `yaml:"config"`
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
	bad badFields
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

// at locates a block of the current monitor for Instances.Build's errors.
func (l *loader) at(field string) location {
	return location{file: l.file, monitor: l.cur, field: field}
}

// blockErrors converts a kind's errors about the block at into file errors.
func blockErrors(at location, err error) []error {
	var out []error
	for _, e := range spec.Flatten(spec.Prefix(at.field, err)) {
		var se *spec.Error
		if errors.As(e, &se) {
			out = append(out, &Error{File: at.file, Line: se.Line, Monitor: spec.Shorten(at.monitor), Field: se.Field, Msg: spec.Shorten(se.Msg)})
			continue
		}
		out = append(out, &Error{File: at.file, Monitor: spec.Shorten(at.monitor), Field: at.field, Msg: spec.Shorten(e.Error())})
	}
	return out
}

// sortByLine puts file errors in the order of the file.
func sortByLine(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
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
	l.bad = findBadFields(&rm, decodeErr)
	if l.bad.has(&rm.Name) {
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
	if msg := checkName(rm.Name); msg != "" && !l.bad.has(&rm.Name) {
		l.add(block.LineOf("name"), rm.Name, "name", msg)
	}
	m.Groups = normalizeGroups(rm.Groups)
	m.Metrics = l.optedIn(&rm.Metrics, m.Groups)
	switch {
	case l.bad.has(&rm.Pulse):
	case rm.Pulse == nil:
		l.add(node.Line, rm.Name, "pulse_check", "required")
	default:
		m.Pulse = l.pulse(rm.Pulse, blockValue(node, "pulse_check"))
	}
	if rm.Intervention != nil && !l.bad.has(&rm.Intervention) {
		m.Intervention = l.intervention(rm.Intervention, blockValue(node, "intervention"))
	}
	if rm.Codes != nil && !l.bad.has(&rm.Codes) {
		m.Codes = l.codes("", rm.Codes, blockValue(node, "codes"))
	}
	if len(l.errs) > 0 {
		return m, false
	}
	// The opt-in may come from the file's metrics section, outside the
	// monitor's node: both fingerprints include it.
	m.Instances = l.keys
	m.ProfileKey = profileKey(node, m)
	return m, true
}

// optedIn says whether a monitor has per-monitor series: its own
// `metrics:` wins; without it, whether one of its groups opted in.
func (l *loader) optedIn(own **bool, groups []string) bool {
	if *own != nil && !l.bad.has(own) {
		return **own
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
	f.String(string(m.Instances.Prober[:]))
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
	badInterval, badTimeout := l.bad.has(&rp.Interval), l.bad.has(&rp.Timeout)
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
	if rp.RetryInterval != nil && !l.bad.has(&rp.RetryInterval) {
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
	if l.bad.has(&rp.MaxFailures) {
		rp.MaxFailures = nil
	}
	if l.bad.has(&rp.UnhealthyThreshold) {
		rp.UnhealthyThreshold = nil
	}
	if l.bad.has(&rp.HealthyThreshold) {
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
		if !l.bad.has(&rp.Type) {
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
	if l.bad.has(&rp.Config) {
		return p
	}
	cfg := rp.Config
	if cfg.Node == nil {
		cfg.Line = keyLine(b, "config")
	}
	key := blockKey(rp.Type, cfg, kind.AddressKeys...)
	addr, err := l.sh.prober(kind, key, cfg, l.at("pulse_check.config"))
	if err != nil {
		l.addSpec("pulse_check.config", err)
		return p
	}
	l.keys.Prober = key
	// Clone: parsed text shares memory with the whole monitor's source, and
	// the world keeps this string for the monitor's life.
	p.Address = strings.Clone(addr)
	return p
}

func (l *loader) intervention(ri *rawIntervention, b spec.Block) *Intervention {
	iv := &Intervention{Type: ri.Type, MaxPerWindow: DefaultMaxPerWindow, Window: DefaultWindow}
	if ri.MaxPerWindow != nil && !l.bad.has(&ri.MaxPerWindow) {
		iv.MaxPerWindow = *ri.MaxPerWindow
		if iv.MaxPerWindow < 1 || iv.MaxPerWindow > MaxPerWindow {
			l.add(b.LineOf("max_per_window"), l.cur, "intervention.max_per_window",
				fmt.Sprintf("must be between 1 and %d, got %d", MaxPerWindow, iv.MaxPerWindow))
		}
	}
	if ri.OnAlert != nil && !l.bad.has(&ri.OnAlert) {
		iv.OnAlert = *ri.OnAlert
	}
	if ri.Window != nil && !l.bad.has(&ri.Window) {
		iv.Window = ri.Window.Std()
		if iv.Window <= 0 {
			l.add(b.LineOf("window"), l.cur, "intervention.window", "must be greater than zero")
		}
	}
	if ri.Type == "" {
		if !l.bad.has(&ri.Type) {
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
	if l.bad.has(&ri.Config) {
		return iv
	}
	cfg := ri.Config
	if cfg.Node == nil {
		cfg.Line = keyLine(b, "config")
	}
	key := blockKey(ri.Type, cfg)
	if err := l.sh.remedy(kind, key, cfg, l.at("intervention.config")); err != nil {
		l.addSpec("intervention.config", err)
		return iv
	}
	l.keys.Remedy = key
	return iv
}

// codes builds the routes of a `codes:` block; prefix is the path of the
// section holding it ("" in a monitor).
func (l *loader) codes(prefix string, rc *rawCodes, b spec.Block) Codes {
	var out Codes
	for _, c := range domain.All {
		slot := rc.byCode()[c]
		r := *slot
		field := prefix + "codes." + c.String()
		if r == nil || l.bad.has(slot) {
			continue
		}
		cb := blockValue(b.Node, c.String())
		route := Route{Configured: true, Dispatch: r.Dispatch == nil || *r.Dispatch}
		out[c] = route
		if r.Notify == "" {
			if route.Dispatch && !l.bad.has(&r.Notify) {
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
		if l.bad.has(&r.Config) {
			continue
		}
		cfg := r.Config
		if cfg.Node == nil {
			cfg.Line = keyLine(cb, "config")
		}
		key := blockKey(r.Notify, cfg)
		if err := l.sh.notifier(kind, key, cfg, l.at(field+".config")); err != nil {
			l.addSpec(field+".config", err)
			continue
		}
		if prefix == "" {
			l.keys.Notifiers[c] = key
		}
		route.Notifier = key
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
