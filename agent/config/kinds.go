package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kinds is the set of check, intervention and notifier kinds a monitor file
// may name. The built-in set comes from pipelines/builtin.
type Kinds struct {
	pulse        map[string]pulse.Kind
	intervention map[string]intervention.Kind
	notify       map[string]code.Kind
	deps         kind.Deps
}

// NewKinds indexes the given kinds by name. Every kind's New gets deps,
// its logger tagged with the kind (depsFor).
func NewKinds(p []pulse.Kind, i []intervention.Kind, n []code.Kind, deps kind.Deps) (*Kinds, error) {
	k := &Kinds{
		pulse:        map[string]pulse.Kind{},
		intervention: map[string]intervention.Kind{},
		notify:       map[string]code.Kind{},
		deps:         deps.WithDefaults(),
	}
	for _, x := range p {
		if _, dup := k.pulse[x.Name]; dup {
			return nil, fmt.Errorf("check kind %q registered twice", x.Name)
		}
		k.pulse[x.Name] = x
	}
	for _, x := range i {
		if _, dup := k.intervention[x.Name]; dup {
			return nil, fmt.Errorf("intervention kind %q registered twice", x.Name)
		}
		k.intervention[x.Name] = x
	}
	for _, x := range n {
		if _, dup := k.notify[x.Name]; dup {
			return nil, fmt.Errorf("notifier kind %q registered twice", x.Name)
		}
		k.notify[x.Name] = x
	}
	return k, nil
}

// NotifierNames are the registered notifier kinds, sorted.
func (k *Kinds) NotifierNames() []string { return slices.Sorted(maps.Keys(k.notify)) }

func names[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// depsFor is what a kind's New gets: the agent's deps, with the logger
// naming the kind ("component" check, intervention or notifier; "kind"
// its name).
func (k *Kinds) depsFor(component, name string) kind.Deps {
	d := k.deps
	d.Logger = d.Logger.With("component", component, "kind", name)
	return d
}
