package world

import (
	"hash/fnv"
	"time"

	"github.com/mlange-42/ark/ecs"
	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/schedule"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Identity is a monitor's rarely changing data. It holds no pointer, so
// the garbage collector never scans the column of a million of them: the
// name and address are in the world's text arena and the profile is an
// index into the world's profiles.
type Identity struct {
	Source  uint64 // config.Monitor.Source: what a reload compares
	text    uint32 // where the name, then the address, start in the text arena
	nameLen uint32
	addrLen uint32
	profile uint32 // index into World.profiles
}

// Runtime is a monitor's frequently changing data.
type Runtime struct {
	Due            int64 // unix ns of the next check; of the running one while InFlight
	Status         incident.Status
	InFlight       bool // a check is queued or running
	RemedyInFlight bool
	// Retry: the last check was inconclusive (the agent could not run it
	// properly), so the next one is due soon and goes first.
	Retry bool

	// The last check, for /probe and the per-monitor series: 8 bytes
	// (the bool fits in padding), so a million monitors pay 8 MB.
	LastOK       bool
	LastAt       uint32  // unix seconds when its outcome was applied; 0: none since added or enabled
	LastDuration float32 // seconds
	CertExpiry   uint32  // unix seconds: the earliest certificate expiry the last check saw; 0: no TLS
	LastPhases   packedPhases
}

// Profile is everything a monitor's definition says apart from its name and
// address. Monitors with identical definitions share one.
type Profile struct {
	Key           spec.Key            // config.Monitor.ProfileKey
	Instances     config.InstanceKeys // what a reload that keeps it must adopt
	CheckType     string
	Interval      time.Duration
	RetryInterval time.Duration // while degraded or verifying
	Timeout       time.Duration
	Prober        pulse.Prober
	Policy        incident.Policy
	Remedy        *Remedy // nil: the monitor has no intervention
	Routes        Routes
	Groups        []string
	Enabled       bool
	Metrics       bool // opted in to per-monitor series (`metrics: true`)
}

// CheckJob is a value handed to a pulse worker.
type CheckJob struct {
	Entity ecs.Entity
	// Urgent: the check confirms or clears an incident, or retries an
	// inconclusive one; it goes before routine checks.
	Urgent  bool
	Due     int64
	Type    string
	Prober  pulse.Prober
	Target  pulse.Target
	Timeout time.Duration
	// Interval is the monitor's, to weigh the check's lag against.
	Interval time.Duration
}

// OfferResult is what became of a due check offered to the pulse pipeline.
type OfferResult uint8

const (
	// Accepted: queued; the monitor waits for its outcome.
	Accepted OfferResult = iota
	// Refused: the pipeline is under backpressure; the monitor stays due
	// and is offered again on the next tick.
	Refused
	// Skipped: not run, because its host's breaker is open; the monitor
	// keeps its state and is due again at its next interval.
	Skipped
)

// CheckOutcome is a pulse worker's answer.
type CheckOutcome struct {
	Entity   ecs.Entity
	Due      int64
	Type     string
	Address  string // the check's address, whose host breaker the outcome informs
	Result   pulse.Result
	Started  time.Time     // when the check reached out to the target
	Duration time.Duration // in the target
	// SlotWait is the part of the worker's time spent waiting for a
	// connection slot: the agent's, kept out of the sizing model's
	// service time.
	SlotWait time.Duration
}

// RemedyJob is a value handed to an intervention worker.
type RemedyJob struct {
	Entity ecs.Entity
	// NotBefore holds the job until then: the monitor was taken over from
	// another replica less than the failure-detection time ago, and that
	// one may not know yet that it lost it (World.SetOwnership).
	NotBefore time.Time
	Type      string
	Remedy    intervention.Remedy
	Request   intervention.Request
	Address   string            // the monitor's check address, whose host breaker a success resets
	Trace     trace.SpanContext // the monitor's incident trace, for log lines
}

// RemedyOutcome is an intervention worker's answer (after all retries).
type RemedyOutcome struct {
	Entity  ecs.Entity
	Err     error
	Address string // the monitor's check address, whose host breaker a success resets
	// Attempted: a worker ran the remedy (rather than its breaker refusing
	// it), so the outcome informs the breaker.
	Attempted bool

	// For the incident's trace.
	Monitor, Type, Destination string
	Started, Ended             time.Time
}

// Dispatch is one code and where it goes.
type Dispatch struct {
	Notification domain.Notification
	Notifiers    []code.Notifier
}

// IncidentChange is a step that opened, changed or closed a monitor's
// incident.
type IncidentChange struct {
	Monitor string
	Change  incident.Change
	State   incident.State // after the step
	At      time.Time
	Cause   string // what happened: the failure, "recovered", "disabled", "removed"
}

// Effects is what applying an event asks the agent to do.
type Effects struct {
	Codes    []Dispatch
	Remedies []RemedyJob
	Changes  []IncidentChange // in the order they happened
}

// Reset empties e for reuse.
func (e *Effects) Reset() {
	e.Codes = e.Codes[:0]
	e.Remedies = e.Remedies[:0]
	e.Changes = e.Changes[:0]
}

// View is a copy of one monitor's state for the HTTP API and tests.
type View struct {
	Name, Type, Address string
	State               incident.State
	Fails, Successes    int
	Reason              string
	Due                 time.Time
	Groups              []string
	Last                LastCheck
	Metrics             bool // opted in to per-monitor series
	// The open incident, set by the owner: its ID (0 when none) and
	// trace ID (empty without tracing).
	Incident uint64
	TraceID  string
}

// World owns every monitor. It is not safe for concurrent use.
type World struct {
	ecs      *ecs.World
	monitors *ecs.Map2[Identity, Runtime]
	names    nameIndex
	text     textArena
	wheel    *schedule.Wheel[ecs.Entity] // routine checks of healthy monitors
	// urgent holds the checks that confirm or clear an incident (monitors
	// not healthy) and retries of inconclusive checks: when the agent is
	// behind, they are offered before any routine check.
	urgent   *schedule.Wheel[ecs.Entity]
	profiles []*Profile            // Identity.profile indexes it; rebuilt by every Apply
	reasons  map[ecs.Entity]string // last failure reason of failing monitors only
	counts   [incident.NumStates]int
	labels   map[string]string // attached to every code (for example the shard)
	series   Series            // told about opted-in monitors; may be nil
	all      *ecs.Filter2[Identity, Runtime]
	version  uint64 // counts the applied configurations
	hosts    hostIndex

	owns         func(name string) bool // cluster ownership; nil: every monitor is this replica's
	foreign      foreignSet             // monitors another replica checks
	foreignCount int
	gainedAt     map[ecs.Entity]time.Time // monitors taken over within the remedy hold
	remedyHold   time.Duration
}

// Options configure a World.
type Options struct {
	Tick     time.Duration     // scheduler resolution; default 10ms
	Slots    int               // wheel slots; default 8192 (82 s at 10 ms)
	Capacity int               // initial entity capacity
	Labels   map[string]string // extra labels on every code
	Series   Series            // receives the opted-in monitors' checks and states
}

// New returns an empty world whose scheduler starts at now.
func New(now time.Time, opt Options) (*World, error) {
	if opt.Tick <= 0 {
		opt.Tick = 10 * time.Millisecond
	}
	if opt.Slots <= 0 {
		opt.Slots = 8192
	}
	if opt.Capacity <= 0 {
		opt.Capacity = 1024
	}
	wheel, err := schedule.New[ecs.Entity](now, opt.Tick, opt.Slots)
	if err != nil {
		return nil, err
	}
	urgent, err := schedule.New[ecs.Entity](now, opt.Tick, opt.Slots)
	if err != nil {
		return nil, err
	}
	w := ecs.NewWorld(opt.Capacity)
	return &World{
		ecs:      w,
		monitors: ecs.NewMap2[Identity, Runtime](w),
		names:    newNameIndex(opt.Capacity),
		wheel:    wheel,
		urgent:   urgent,
		reasons:  map[ecs.Entity]string{},
		labels:   opt.Labels,
		series:   opt.Series,
		all:      ecs.NewFilter2[Identity, Runtime](w),
	}, nil
}

// Len is the number of monitors.
func (w *World) Len() int { return w.names.len() }

// name, address and profile read a monitor's identity.
func (w *World) name(id *Identity) string { return w.text.text(id.text, 0, id.nameLen) }

func (w *World) address(id *Identity) string {
	return w.text.text(id.text, id.nameLen, id.addrLen)
}

func (w *World) profile(id *Identity) *Profile { return w.profiles[id.profile] }

// nameOfEntity is the name index's view of the world.
func (w *World) nameOfEntity(e ecs.Entity) string {
	id, _ := w.monitors.Get(e)
	return w.name(id)
}

// lookup finds a monitor by name.
func (w *World) lookup(name string) (ecs.Entity, bool) {
	return w.names.get(name, w.nameOfEntity)
}

// Counts returns the number of monitors in each state.
func (w *World) Counts() [incident.NumStates]int { return w.counts }

// Lookup returns a copy of the named monitor's state.
func (w *World) Lookup(name string) (View, bool) {
	e, ok := w.lookup(name)
	if !ok {
		return View{}, false
	}
	return w.view(e), true
}

// view copies e's state.
func (w *World) view(e ecs.Entity) View {
	id, rt := w.monitors.Get(e)
	p := w.profile(id)
	return View{
		Name: w.name(id), Type: p.CheckType, Address: w.address(id),
		State: rt.Status.State, Fails: int(rt.Status.Fails), Successes: int(rt.Status.Successes),
		Reason: w.reasons[e], Due: time.Unix(0, rt.Due), Groups: p.Groups,
		Last: rt.lastCheck(), Metrics: p.Metrics,
	}
}

// NotifiersOf returns where the named monitor's codes of colour c go now, and
// whether there is such a monitor.
func (w *World) NotifiersOf(name string, c domain.Code) ([]code.Notifier, bool) {
	e, ok := w.lookup(name)
	if !ok {
		return nil, false
	}
	id, _ := w.monitors.Get(e)
	return w.profile(id).Routes.Notifiers(c), true
}

// firstDue spreads first checks over the interval. The offset comes from a
// hash of the name, so each monitor keeps its phase across restarts and a
// restart does not stampede.
func firstDue(name string, interval time.Duration, now time.Time) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	iv := int64(interval)
	phase := int64(h.Sum64() % uint64(iv))
	n := now.UnixNano()
	due := n - n%iv + phase
	if due < n {
		due += iv
	}
	return due
}

// nextDue keeps a monitor on its phase: the first multiple of the interval
// after the last due time that is still in the future (missed runs are
// skipped, not run back to back).
func nextDue(last int64, interval time.Duration, now int64) int64 {
	iv := int64(interval)
	next := last + iv
	if next <= now {
		next += ((now-next)/iv + 1) * iv
	}
	return next
}
