package world

import (
	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/schedule"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

type scheduleEntry = schedule.Entry[ecs.Entity]

func pulseTarget(id *Identity) pulse.Target {
	return pulse.Target{Monitor: id.Name, Address: id.Address}
}
