package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
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

// Monitor is one validated monitor: plain values, with the shared
// instances it uses named by key (InstanceKeys), built by Instances.Build.
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

	// Source is the hash of the monitor's text in the file (with the
	// opt-in the file's metrics section gives it), what a reload compares
	// to keep a monitor without parsing it again. 0 when the file could not
	// be cut into monitors and was parsed whole: nothing to compare.
	Source uint64
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
}

// Intervention is a monitor's remediation and its restart-loop guard.
type Intervention struct {
	Type         string
	MaxPerWindow int
	Window       time.Duration
	// OnAlert lets a firing critical alert about the monitor, received on
	// the Alertmanager webhook, start the intervention (`on_alert: true`).
	OnAlert bool
}

// Route is where one colour goes.
type Route struct {
	Configured bool // the colour has its own entry in `codes:`
	Dispatch   bool
	Notifier   spec.Key // the notifier's instance (Instances.Notifier); zero: none
}

// Codes routes each colour, indexed by domain.Code.
type Codes [domain.Gray + 1]Route

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
