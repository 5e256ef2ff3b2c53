package scriptcheck

import (
	"context"

	"github.com/cpra-agent/cpra-agent/internal/proc"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kind registers the script check. It has no address: the whole block
// configures the program.
var Kind = pulse.Kind{Name: "script", Parse: parseProber}

func parseProber(b spec.Block) (any, string, error) {
	var cfg proc.Config
	if err := b.Decode(&cfg); err != nil {
		return nil, "", err
	}
	if err := cfg.Validate(b); err != nil {
		return nil, "", err
	}
	return &prober{cfg: cfg}, "", nil
}

type prober struct {
	cfg proc.Config
}

func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	if _, err := p.cfg.Run(ctx, proc.Var("CPRA_MONITOR", t.Monitor)); err != nil {
		return pulse.Result{Reason: err.Error()}
	}
	return pulse.Result{OK: true}
}
