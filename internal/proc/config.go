package proc

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// MaxOutputLimit caps output_limit: the output of every running program is
// held in memory.
const MaxOutputLimit = 1 << 20

// reservedPrefix marks the variables the agent sets itself.
const reservedPrefix = "CPRA_"

// Config is the `config:` block shared by script checks and script remedies.
// Kinds embed it with `yaml:",inline"`.
//
//	script: /usr/local/bin/check-queue.sh   # or: command: [systemctl, is-active, nginx]
//	args: [--max, "100"]
//	env: {QUEUE: orders}
//	output_limit: 4096
type Config struct {
	Script      string            `yaml:"script"`       // program: a path, or a name looked up in PATH
	Args        []string          `yaml:"args"`         // arguments to script
	Command     []string          `yaml:"command"`      // program and arguments, instead of script and args
	Env         map[string]string `yaml:"env"`          // variables added to the program's environment
	OutputLimit int               `yaml:"output_limit"` // bytes of output kept; default DefaultOutputLimit
}

// Validate checks c, decoded from b, and prepares it for Run: the program is
// resolved to an absolute path now, so a missing or non-executable script is
// reported when the file is loaded, and output_limit gets its default.
// Every problem is reported, each at its key's line.
func (c *Config) Validate(b spec.Block) error {
	var errs []error
	key, prog := "script", c.Script
	switch hasCommand := b.Has("command"); {
	case hasCommand && b.Has("script"):
		errs = append(errs, b.Errorf("command", "cannot be combined with script; use one of them"))
		prog = ""
	case hasCommand && (len(c.Command) == 0 || c.Command[0] == ""):
		errs = append(errs, b.Errorf("command", "must list the program and its arguments"))
	case hasCommand:
		key, prog = "command", c.Command[0]
		if b.Has("args") {
			errs = append(errs, b.Errorf("args", "only used with script; put the arguments in command"))
		}
	case c.Script == "":
		errs = append(errs, b.Errorf("script", "required (or set command)"))
	}
	if prog != "" {
		path, err := LookPath(prog)
		if err != nil {
			errs = append(errs, b.Errorf(key, "%v", err))
		} else if key == "command" {
			c.Command = append([]string{path}, c.Command[1:]...)
		} else {
			c.Script = path
		}
	}

	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		var msg string
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			msg = "not a valid variable name"
		case strings.HasPrefix(k, reservedPrefix):
			msg = "names starting with " + reservedPrefix + " are set by the agent"
		default:
			continue
		}
		errs = append(errs, &spec.Error{Line: b.NestedLine("env", k), Field: "env." + k, Msg: msg})
	}

	switch {
	case c.OutputLimit < 0:
		errs = append(errs, b.Errorf("output_limit", "must be 0 or more, got %d", c.OutputLimit))
	case c.OutputLimit > MaxOutputLimit:
		errs = append(errs, b.Errorf("output_limit", "must be at most %d, got %d", MaxOutputLimit, c.OutputLimit))
	case c.OutputLimit == 0:
		c.OutputLimit = DefaultOutputLimit
	}
	return errors.Join(errs...)
}

// Argv is the program and its arguments.
func (c Config) Argv() []string {
	if len(c.Command) > 0 {
		return c.Command
	}
	return append([]string{c.Script}, c.Args...)
}

// Run runs the program with the config's environment followed by extra
// entries ("KEY=value", see Var), so extra wins over the config.
func (c Config) Run(ctx context.Context, extra ...string) (Result, error) {
	env := make([]string, 0, len(c.Env)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		env = append(env, Var(k, c.Env[k]))
	}
	return Run(ctx, c.Argv(), append(env, extra...), c.OutputLimit)
}
