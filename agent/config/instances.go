package config

import (
	"context"
	"errors"
	"sync"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Instances holds the probers, remedies and notifiers of a monitor file,
// keyed by kind and canonical configuration. Monitors with the same
// configuration share one instance, and a reload reuses the instances of the
// running configuration, so an Alertmanager notifier keeps its firing alerts
// and an HTTP prober its connections.
//
// Parsing fills it with what the running configuration already has and
// with the validated settings of the rest; Build makes those live. Only a
// load that will run calls Build: --config.check and a rejected reload
// open, start and register nothing.
type Instances struct {
	kinds     *Kinds
	probers   map[spec.Key]pulse.Prober
	remedies  map[spec.Key]intervention.Remedy
	notifiers map[spec.Key]code.Notifier

	// Parsed, not built yet.
	newProbers   map[spec.Key]unbuilt[pulse.Kind]
	newRemedies  map[spec.Key]unbuilt[intervention.Kind]
	newNotifiers map[spec.Key]unbuilt[code.Kind]
}

// unbuilt is a kind's validated settings for one key, and where the block
// is, for an error Build may still meet (a file that cannot be opened).
type unbuilt[K any] struct {
	kind     K
	settings any
	at       location
}

// location places a configuration block for errors: the monitor (or
// section) and the field path of the block.
type location struct {
	file, monitor, field string
}

func newInstances(kinds *Kinds) *Instances {
	return &Instances{
		kinds:        kinds,
		probers:      map[spec.Key]pulse.Prober{},
		remedies:     map[spec.Key]intervention.Remedy{},
		notifiers:    map[spec.Key]code.Notifier{},
		newProbers:   map[spec.Key]unbuilt[pulse.Kind]{},
		newRemedies:  map[spec.Key]unbuilt[intervention.Kind]{},
		newNotifiers: map[spec.Key]unbuilt[code.Kind]{},
	}
}

// Prober, Remedy and Notifier return the built instance of key (nil when
// there is none: the zero key, or Build not run).
func (in *Instances) Prober(key spec.Key) pulse.Prober        { return in.probers[key] }
func (in *Instances) Remedy(key spec.Key) intervention.Remedy { return in.remedies[key] }
func (in *Instances) Notifier(key spec.Key) code.Notifier     { return in.notifiers[key] }

func (in *Instances) unbuiltCount() int {
	return len(in.newProbers) + len(in.newRemedies) + len(in.newNotifiers)
}

// Build makes every parsed instance live, on every core. On an error the
// instances it built are closed again and the error names each block
// that failed, as parsing does.
func (in *Instances) Build() error {
	if in == nil || in.unbuiltCount() == 0 {
		return nil
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(at location, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, blockErrors(at, err)...)
	}
	buildAll(in.newProbers, in.probers, &mu, func(u unbuilt[pulse.Kind]) (pulse.Prober, error) {
		return u.kind.Construct(u.settings, in.kinds.depsFor("check", u.kind.Name))
	}, fail)
	buildAll(in.newRemedies, in.remedies, &mu, func(u unbuilt[intervention.Kind]) (intervention.Remedy, error) {
		return u.kind.Construct(u.settings, in.kinds.depsFor("intervention", u.kind.Name))
	}, fail)
	built := make(map[spec.Key]bool, len(in.newNotifiers))
	buildAll(in.newNotifiers, in.notifiers, &mu, func(u unbuilt[code.Kind]) (code.Notifier, error) {
		return u.kind.Construct(u.settings, in.kinds.depsFor("notifier", u.kind.Name))
	}, fail)
	for key := range in.newNotifiers {
		built[key] = true
	}
	clear(in.newProbers)
	clear(in.newRemedies)
	clear(in.newNotifiers)
	if len(errs) == 0 {
		return nil
	}
	// Notifiers are the instances that hold something (a file, a resend
	// loop); close the ones this Build opened.
	for key, n := range in.notifiers {
		if built[key] {
			_ = n.Close(context.Background())
		}
	}
	sortByLine(errs)
	return errors.Join(errs...)
}

// buildAll builds each of todo into done, in parallel.
func buildAll[K, T any](todo map[spec.Key]unbuilt[K], done map[spec.Key]T, mu *sync.Mutex, build func(unbuilt[K]) (T, error), fail func(location, error)) {
	keys := make([]spec.Key, 0, len(todo))
	for k := range todo {
		keys = append(keys, k)
	}
	parallel(len(keys), func(i int) {
		u := todo[keys[i]]
		v, err := build(u)
		if err != nil {
			fail(u.at, err)
			return
		}
		mu.Lock()
		done[keys[i]] = v
		mu.Unlock()
	})
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

// adopt finds key's instance in this load, or in the running configuration
// and then takes it over. Callers hold the shared lock.
func adopt[T any](next, prev map[spec.Key]T, key spec.Key) bool {
	if _, ok := next[key]; ok {
		return true
	}
	if v, ok := prev[key]; ok {
		next[key] = v
		return true
	}
	return false
}

// prober validates a check block and returns the monitor's address. The
// first monitor with a configuration has its block parsed in full; the
// others (and those whose prober the running configuration has) only
// their address keys, when the kind allows it.
func (sh *shared) prober(k pulse.Kind, key spec.Key, cfg spec.Block, at location) (string, error) {
	sh.mu.Lock()
	_, parsed := sh.next.newProbers[key]
	known := parsed || adopt(sh.next.probers, sh.prev.probers, key)
	sh.mu.Unlock()
	if known && k.Address != nil {
		return k.Address(cfg)
	}
	settings, addr, err := k.Parse(cfg)
	if err != nil || known {
		return addr, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.next.newProbers[key]; !ok { // another worker may have parsed it first
		sh.next.newProbers[key] = unbuilt[pulse.Kind]{kind: k, settings: settings, at: at}
	}
	return addr, nil
}

// remedy validates an intervention block, once per distinct block.
func (sh *shared) remedy(k intervention.Kind, key spec.Key, cfg spec.Block, at location) error {
	return parseOnce(sh, sh.next.remedies, sh.prev.remedies, sh.next.newRemedies, key, func() (unbuilt[intervention.Kind], error) {
		s, err := k.Parse(cfg)
		return unbuilt[intervention.Kind]{kind: k, settings: s, at: at}, err
	})
}

// notifier validates a notifier block, once per distinct block.
func (sh *shared) notifier(k code.Kind, key spec.Key, cfg spec.Block, at location) error {
	return parseOnce(sh, sh.next.notifiers, sh.prev.notifiers, sh.next.newNotifiers, key, func() (unbuilt[code.Kind], error) {
		s, err := k.Parse(cfg)
		return unbuilt[code.Kind]{kind: k, settings: s, at: at}, err
	})
}

// parseOnce parses key's block unless this load or the running
// configuration already has it.
func parseOnce[K, T any](sh *shared, next, prev map[spec.Key]T, todo map[spec.Key]unbuilt[K], key spec.Key, parse func() (unbuilt[K], error)) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := todo[key]; ok || adopt(next, prev, key) {
		return nil
	}
	u, err := parse()
	if err != nil {
		return err
	}
	todo[key] = u
	return nil
}
