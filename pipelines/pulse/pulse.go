package pulse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// Target is what one probe is aimed at.
type Target struct {
	Monitor string // the monitor's name, passed to scripts and templates
	Address string // the kind's address: a URL, host:port, a host; empty for scripts
}

// Result is the outcome of one check.
type Result struct {
	OK bool
	// Reason says why a check failed in a short, human-readable sentence
	// ("status 503", "connect: connection refused"). Empty on success. It is
	// shown in logs and codes, never used as a metric label.
	Reason string
	// Unreachable says the check failed before the target answered at all:
	// the name did not resolve, the connection was refused or reset, the
	// connect or the wait for a response timed out with nothing received,
	// the TLS handshake failed, or no ICMP echo reply came. It is false when
	// the target answered wrongly (a bad status, a body mismatch, a script's
	// exit code), when the check could not start for a local reason (no ICMP
	// socket), when the check was canceled, and always when OK is true.
	//
	// The agent's per-host circuit breakers, keyed by [HostOf] the address,
	// count only unreachable results as failures: a host that answers 500
	// is alive. With retries, the last attempt decides. Script checks have
	// no host and never set it.
	Unreachable bool
	// HostDown says the failure is evidence that the host itself is down,
	// not just the service on one of its ports: the name did not resolve,
	// the host or its network was unreachable, the connect timed out with
	// no answer, or no ICMP echo reply came. A refused or reset connection
	// is an answer from the host (its port is closed), so it is not. The
	// pulse host breaker counts only these (see breaker.Hosts).
	HostDown bool
	// TimedOut says the check failed because its deadline passed (set by
	// Run, not by kinds).
	TimedOut bool
	// Inconclusive, when not empty, says the check could not finish for a
	// reason local to the agent, so its outcome says nothing about the
	// target: the agent neither counts it for nor against the monitor, and
	// checks again at the next interval. Its values are the `reason` label
	// of cpra_checks_inconclusive_total; see the Inconclusive* constants.
	Inconclusive string
	// CertExpiry is when the earliest certificate of the TLS chain the
	// check saw expires, in unix seconds; 0 without TLS.
	CertExpiry int64
	// Phases is where the check's time went. Kinds that can tell set the
	// target's phases (resolve to transfer); PhaseQueued is the agent's
	// own and is set by the agent.
	Phases Phases
}

// Phase is one part of a check's time. The target's phases are
// blackbox_exporter's probe_http_duration_seconds{phase}.
type Phase uint8

// The phases, in the order a check goes through them.
const (
	// PhaseQueued is the agent's time: from when the check was due until
	// it reached out (schedule lag, waiting for a worker and for a
	// connection slot). It is never charged to the target.
	PhaseQueued Phase = iota
	PhaseResolve
	PhaseConnect
	PhaseTLS
	// PhaseProcessing runs from the request written until the first
	// byte of the answer.
	PhaseProcessing
	// PhaseTransfer runs from the first byte until the answer was read.
	PhaseTransfer
	NumPhases
)

var phaseNames = [NumPhases]string{"queued", "resolve", "connect", "tls", "processing", "transfer"}

// String is the phase's `phase` label value.
func (p Phase) String() string {
	if p < NumPhases {
		return phaseNames[p]
	}
	return "unknown"
}

// Phases holds one duration per phase; zero for a phase the check did not
// go through (no TLS, a reused connection).
type Phases [NumPhases]time.Duration

// The reasons a check is inconclusive.
const (
	// InconclusiveLocalPool: the check got none of the agent's own
	// connection slots to its host (the per-host connection limit) within
	// its timeout, so nothing was sent to the target.
	InconclusiveLocalPool = "local_pool"
	// InconclusiveStarved: the check's goroutine saw its deadline much
	// later than it passed, so the process was starved of CPU and the
	// timeout measured the agent, not the target.
	InconclusiveStarved = "starved"
	// InconclusiveOpenFiles: the agent ran out of file descriptors
	// (EMFILE, ENFILE) for the check's socket, pipe or process: the
	// agent's limit, never the target's failure.
	InconclusiveOpenFiles = "open_files"
	// InconclusiveHostDown: the check got no answer from a host whose
	// breaker is open (it was in flight when the breaker opened, or was
	// the trial that opened it again): the host's one code covers it.
	InconclusiveHostDown = "host_down"
)

// HostDownError reports whether a dial or resolve error says the host is
// down (see Result.HostDown).
func HostDownError(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return op.Timeout() || errors.Is(op.Err, context.DeadlineExceeded)
	}
	return false
}

// Prober runs one kind of check. One Prober is shared by every monitor whose
// configuration block is identical apart from the kind's address keys, so a
// Prober holds no per-monitor state and must be safe for concurrent use.
// Probe must honour ctx's deadline, which carries the monitor's timeout.
type Prober interface {
	Probe(ctx context.Context, t Target) Result
}

// DeadlineKeeper is a Prober that, for some targets, bounds every blocking
// step of a check by ctx.Deadline() itself (socket deadlines), so Run need
// not arm a timer per check: at thousands of checks a second the timer and
// the cancellation bookkeeping of context.WithTimeout are a measurable
// share of the agent's CPU. For such a target Run passes a context that
// carries the deadline and reports DeadlineExceeded from Err once it has
// passed, but is not done at it; it is done when the agent stops. Any step
// that relies on ctx being done at the deadline must first wrap ctx with
// Enforced.
type DeadlineKeeper interface {
	Prober
	KeepsDeadline(t Target) bool
}

// Gated is a Prober that reaches its target through one of a limited
// number of the agent's own slots (connections to the target's host, see
// package hostconns). Run waits for a slot before the check's timeout
// starts: that wait is the agent's time, never the target's.
type Gated interface {
	Prober
	// Admit waits for a slot for t until ctx ends or the time by passes.
	Admit(ctx context.Context, t Target, by time.Time) (Slot, error)
}

// Slot is a held slot of a Gated prober.
type Slot interface {
	// Release gives the slot back; inTarget is how long the check spent
	// in the target.
	Release(inTarget time.Duration)
}

// Kind describes a check type for registration.
//
// Loading has two steps. Parse validates a block and returns plain
// settings: it opens nothing, starts nothing and registers nothing, so
// --config.check and a rejected reload leave no trace. Build turns the
// settings into the live Prober; only a load that will run calls it, once
// per distinct block.
type Kind struct {
	Name string // the `type:` value, for example "http"
	// AddressKeys are the keys of the config block that make up the
	// per-monitor address. The rest of the block configures the shared
	// Prober, so two monitors differing only in these keys share one Prober.
	AddressKeys []string
	// Parse validates the block and returns the Prober's settings and the
	// monitor's address. The settings must not depend on the address keys.
	Parse func(b spec.Block) (settings any, address string, err error)
	// Build makes the Prober from Parse's settings. Nil when the settings
	// are the Prober itself: an inert value that holds nothing live.
	Build func(settings any, deps kind.Deps) (Prober, error)
	// Address, when set, validates only the address keys and returns the
	// address. The loader calls it instead of Parse for a monitor whose
	// block, apart from the address keys, equals one it already parsed, so
	// a fleet of a million URLs does not parse a million Probers' settings.
	// Kinds whose Parse is cheap leave it nil.
	Address func(b spec.Block) (string, error)
}

// New parses the block and builds the Prober: both steps at once, for
// tests and tools that use one Prober on its own.
func (k Kind) New(b spec.Block, deps kind.Deps) (Prober, string, error) {
	settings, addr, err := k.Parse(b)
	if err != nil {
		return nil, "", err
	}
	p, err := k.Construct(settings, deps)
	return p, addr, err
}

// Construct runs Build, or returns the settings when they are the Prober.
func (k Kind) Construct(settings any, deps kind.Deps) (Prober, error) {
	if k.Build == nil {
		return settings.(Prober), nil
	}
	return k.Build(settings, deps)
}

// Failf is a convenience for kinds: a failed Result with a formatted reason.
func Failf(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...)}
}

// Unreachablef is Failf for a target that did not answer at all.
func Unreachablef(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...), Unreachable: true}
}

// RetryBackoff is the pause between attempts of kinds that support `retries`.
// Attempts stop early when the context's deadline would pass.
const RetryBackoff = 100 * time.Millisecond
