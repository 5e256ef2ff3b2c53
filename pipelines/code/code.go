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

// Kind describes a notifier type for registration.
type Kind struct {
	Name string // the `notify:` value, for example "alertmanager"
	New  func(b spec.Block, deps kind.Deps) (Notifier, error)
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
