package config

import (
	"context"
	"errors"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Instances holds the probers, remedies and notifiers built from a monitor
// file, keyed by kind and canonical configuration. Monitors with the same
// configuration share one instance, and a reload reuses the instances of the
// running configuration, so an Alertmanager notifier keeps its firing alerts
// and an HTTP prober its connections.
type Instances struct {
	probers   map[spec.Key]pulse.Prober
	remedies  map[spec.Key]intervention.Remedy
	notifiers map[spec.Key]code.Notifier
}

func newInstances() *Instances {
	return &Instances{
		probers:   map[spec.Key]pulse.Prober{},
		remedies:  map[spec.Key]intervention.Remedy{},
		notifiers: map[spec.Key]code.Notifier{},
	}
}

// Notifiers returns every notifier in use.
func (in *Instances) Notifiers() []code.Notifier {
	if in == nil {
		return nil
	}
	out := make([]code.Notifier, 0, len(in.notifiers))
	for _, n := range in.notifiers {
		out = append(out, n)
	}
	return out
}

// Unused returns the notifiers of in that next does not use.
func (in *Instances) Unused(next *Instances) []code.Notifier {
	if in == nil {
		return nil
	}
	var out []code.Notifier
	for key, n := range in.notifiers {
		if _, kept := next.notifiers[key]; !kept {
			out = append(out, n)
		}
	}
	return out
}

// CloseUnused closes the notifiers of in that next does not use. Call it
// with (old, new) after a reload is applied, and with (new, old) after a
// failed one to release what the attempt opened.
func (in *Instances) CloseUnused(ctx context.Context, next *Instances) error {
	if in == nil {
		return nil
	}
	var errs []error
	for key, n := range in.notifiers {
		if next != nil {
			if _, kept := next.notifiers[key]; kept {
				continue
			}
		}
		errs = append(errs, n.Close(ctx))
	}
	return errors.Join(errs...)
}

// Adopt takes over from prev the instances keys names that in does not
// have yet: those of a monitor a reload kept without parsing it again.
func (in *Instances) Adopt(prev *Instances, keys InstanceKeys) {
	if prev == nil {
		return
	}
	adoptKey(in.probers, prev.probers, keys.Prober)
	adoptKey(in.remedies, prev.remedies, keys.Remedy)
	for _, k := range keys.Notifiers {
		adoptKey(in.notifiers, prev.notifiers, k)
	}
}

func adoptKey[T any](next, prev map[spec.Key]T, key spec.Key) {
	if key != (spec.Key{}) {
		adopt(next, prev, key)
	}
}
