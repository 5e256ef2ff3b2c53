package code

import (
	"context"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// Notifier delivers notifications to one destination. One Notifier is shared
// by every monitor with an identical config block; it must be safe for
// concurrent use. Notify makes one delivery attempt and returns an error when
// the destination did not accept it; the code pipeline retries with backoff.
type Notifier interface {
	Notify(ctx context.Context, n domain.Notification) error
	// Destination names the receiver for logs, for example "log:stdout" or
	// "alertmanager:http://127.0.0.1:9093". It must start with the kind's
	// name and a colon: the part before the colon is the `notifier` metric
	// label (see KindOf). It comes from configuration, never from input.
	Destination() string
	// Close stops background work (such as re-sending firing alerts) after
	// a final flush. It is called once on shutdown or when a reload drops
	// the notifier.
	Close(ctx context.Context) error
}

// Kind describes a notifier type for registration. Loading has two steps,
// as for check kinds (pulse.Kind): Parse validates a block into plain
// settings and leaves no trace; Build, which only a load that will run
// calls, makes the live Notifier once per distinct block.
type Kind struct {
	Name string // the `notify:` value, for example "alertmanager"
	// Parse validates the block and returns the settings Build needs.
	Parse func(b spec.Block) (settings any, err error)
	// Build makes the Notifier. Nil when the settings are the Notifier itself:
	// an inert value that holds nothing live.
	Build func(settings any, deps kind.Deps) (Notifier, error)
}

// New parses the block and builds the Notifier: both steps at once, for
// tests and tools that use one on its own.
func (k Kind) New(b spec.Block, deps kind.Deps) (Notifier, error) {
	settings, err := k.Parse(b)
	if err != nil {
		return nil, err
	}
	return k.Construct(settings, deps)
}

// Construct runs Build, or returns the settings when they are the Notifier.
func (k Kind) Construct(settings any, deps kind.Deps) (Notifier, error) {
	if k.Build == nil {
		return settings.(Notifier), nil
	}
	return k.Build(settings, deps)
}

// Holder is a notifier whose receiver keeps a firing code active until it
// is resolved or expires, as Alertmanager keeps an alert until its endsAt.
// The owner re-sends each firing code it holds there every ResendInterval
// (Notification.Resend), tells it which firing code a notification
// replaces (Notification.Replaces), and resolves at every holder it fired
// at, wherever a reload moved the monitor's codes since.
type Holder interface {
	Notifier
	ResendInterval() time.Duration
}
