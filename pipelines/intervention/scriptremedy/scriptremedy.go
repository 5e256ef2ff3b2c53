package scriptremedy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cpra-agent/cpra-agent/internal/proc"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
)

// Kind registers the script intervention.
var Kind = intervention.Kind{Name: "script", Parse: parseRemedy}

type config struct {
	intervention.Policy `yaml:",inline"`
	proc.Config         `yaml:",inline"`
}

func parseRemedy(b spec.Block) (any, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, err
	}
	if err := errors.Join(c.Config.Validate(b), c.Policy.Validate(b)); err != nil {
		return nil, err
	}
	return &remedy{cfg: c.Config, dest: "script:" + c.Config.Argv()[0], policy: c.Policy.WithDefaults()}, nil
}

type remedy struct {
	cfg    proc.Config
	dest   string // "script:" and the program's absolute path
	policy intervention.Policy
}

func (r *remedy) Policy() intervention.Policy { return r.policy }

// Destination returns "script:" and the program's path, as resolved when the
// file was loaded; neither its arguments nor the request are part of it.
func (r *remedy) Destination(intervention.Request) string { return r.dest }

func (r *remedy) Apply(ctx context.Context, req intervention.Request) error {
	_, err := r.cfg.Run(ctx,
		proc.Var("CPRA_MONITOR", req.Monitor),
		proc.Var("CPRA_STATE", req.State),
		proc.Var("CPRA_REASON", req.Reason),
		proc.Var("CPRA_ATTEMPT", strconv.Itoa(req.Attempt)),
		proc.Var("CPRA_GROUPS", strings.Join(req.Groups, ",")),
	)
	if err != nil {
		return fmt.Errorf("%s: %w", r.cfg.Argv()[0], err)
	}
	return nil
}
