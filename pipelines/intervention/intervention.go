package intervention

import (
	"context"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// Request tells a remedy which monitor to repair and why.
type Request struct {
	Monitor string   // monitor name
	State   string   // the monitor's state when the intervention was decided, e.g. "degraded"
	Reason  string   // the last check's failure reason
	Groups  []string // the monitor's groups
	Attempt int      // 1 for the first attempt, 2 for the first retry, ...
}

// Policy is the retry and timeout policy shared by every kind. Kinds embed
// it in their config struct with `yaml:",inline"` so that `timeout`,
// `retries` and `backoff` are accepted in every intervention's config block.
type Policy struct {
	Timeout spec.Duration `yaml:"timeout"` // per attempt; default 30s
	Retries int           `yaml:"retries"` // extra attempts after the first; default 0
	Backoff spec.Duration `yaml:"backoff"` // pause before the first retry, doubled after each; default 1s
}

// Defaults used when a Policy field is zero.
const (
	DefaultTimeout = 30 * time.Second
	DefaultBackoff = time.Second
	MaxBackoff     = time.Minute
)

// WithDefaults fills zero fields with the defaults.
func (p Policy) WithDefaults() Policy {
	if p.Timeout == 0 {
		p.Timeout = spec.Duration(DefaultTimeout)
	}
	if p.Backoff == 0 {
		p.Backoff = spec.Duration(DefaultBackoff)
	}
	return p
}

// Validate reports negative retries. Durations are validated by spec.
func (p Policy) Validate(b spec.Block) error {
	if p.Retries < 0 {
		return b.Errorf("retries", "must be 0 or more, got %d", p.Retries)
	}
	return nil
}

// Remedy applies one kind of intervention. One Remedy is shared by every
// monitor with an identical config block, so it must be safe for concurrent
// use and hold no per-monitor state. Apply performs a single attempt and must
// honour ctx (which carries Policy.Timeout); the pipeline does the retries.
type Remedy interface {
	Apply(ctx context.Context, r Request) error
	Policy() Policy
	// Destination names what Apply for r would act on: the endpoint that a
	// per-destination circuit breaker protects, also the `destination`
	// metric label. It starts with the kind ("webhook:https://ops.example.com",
	// "docker:/var/run/docker.sock", "script:/usr/local/bin/fix.sh") and
	// names the endpoint, never the monitor or the thing repaired there (a
	// container, a URL's path or query), so that it is low-cardinality and
	// stable: monitors whose remedies reach the same endpoint share a breaker.
	// It must be cheap, must not fail, and must be safe for concurrent use.
	Destination(r Request) string
}

// Kind describes an intervention type for registration. Loading has two steps,
// as for check kinds (pulse.Kind): Parse validates a block into plain
// settings and leaves no trace; Build, which only a load that will run
// calls, makes the live Remedy once per distinct block.
type Kind struct {
	Name string // the `type:` value, for example "script"
	// Parse validates the block and returns the settings Build needs.
	Parse func(b spec.Block) (settings any, err error)
	// Build makes the Remedy. Nil when the settings are the Remedy itself:
	// an inert value that holds nothing live.
	Build func(settings any, deps kind.Deps) (Remedy, error)
}

// New parses the block and builds the Remedy: both steps at once, for
// tests and tools that use one on its own.
func (k Kind) New(b spec.Block, deps kind.Deps) (Remedy, error) {
	settings, err := k.Parse(b)
	if err != nil {
		return nil, err
	}
	return k.Construct(settings, deps)
}

// Construct runs Build, or returns the settings when they are the Remedy.
func (k Kind) Construct(settings any, deps kind.Deps) (Remedy, error) {
	if k.Build == nil {
		return settings.(Remedy), nil
	}
	return k.Build(settings, deps)
}
