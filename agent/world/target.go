package world

import (
	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/schedule"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

type scheduleEntry = schedule.Entry[ecs.Entity]

func (w *World) pulseTarget(id *Identity) pulse.Target {
	return pulse.Target{Monitor: w.name(id), Address: w.address(id)}
}
