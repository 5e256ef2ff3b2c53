package world

import (
	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/incident"
)

// Describe returns a live monitor's name, check type and state, for the
// owner's tracing and metrics after an outcome is applied.
func (w *World) Describe(e ecs.Entity) (name, checkType string, state incident.State, ok bool) {
	if !w.ecs.Alive(e) {
		return "", "", 0, false
	}
	id, rt := w.monitors.Get(e)
	return id.Name, id.Profile.CheckType, rt.Status.State, true
}
