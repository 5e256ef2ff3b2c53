package proc

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
)

func load(t *testing.T, src string) (Config, error) {
	t.Helper()
	b := spectest.Block(t, src)
	var c Config
	if err := b.Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate(b)
}

func TestConfigErrors(t *testing.T) {
	notExec := writeFile(t, "plain.sh", "#!/bin/sh\n", 0o644)
	tests := []struct {
		name, src, want string
	}{
		{"empty block", ``, "line 1: script: required (or set command)"},
		{"only args", "args: [a]", "line 1: script: required (or set command)"},
		{"empty script", `script: ""`, "line 1: script: required (or set command)"},
		{"script not found", "script: /nonexistent/check.sh", "line 1: script: executable not found: /nonexistent/check.sh"},
		{"script not executable", "script: " + notExec, "line 1: script: cannot run " + notExec + ": permission denied"},
		{"command not in PATH", "command: [cpra-no-such-program, -v]", "line 1: command: executable not found: cpra-no-such-program"},
		{"empty command", "command: []", "line 1: command: must list the program and its arguments"},
		{"empty program", `command: ["", x]`, "line 1: command: must list the program and its arguments"},
		{
			"script and command",
			"script: /bin/true\ncommand: [true]\n",
			"line 2: command: cannot be combined with script; use one of them",
		},
		{
			"args with command",
			"command: [true]\nargs: [x]\n",
			"line 2: args: only used with script; put the arguments in command",
		},
		{
			"reserved and invalid env names",
			"script: true\nenv:\n  OK: fine\n  CPRA_MONITOR: x\n  \"A=B\": y\n",
			"line 5: env.A=B: not a valid variable name\n" +
				"line 4: env.CPRA_MONITOR: names starting with CPRA_ are set by the agent",
		},
		{"negative output limit", "script: true\noutput_limit: -1", "line 2: output_limit: must be 0 or more, got -1"},
		{"huge output limit", "script: true\noutput_limit: 2000000", "line 2: output_limit: must be at most 1048576, got 2000000"},
		{
			"every problem at once",
			"script: /nonexistent/x\noutput_limit: -5\n",
			"line 1: script: executable not found: /nonexistent/x\nline 2: output_limit: must be 0 or more, got -5",
		},
		// Decoding is strict: spec rejects unknown keys and wrong types.
		{"unknown key", "scripts: /bin/true", "line 1: scripts: unknown field (known: args, command, env, output_limit, script)"},
		{"command as a string", "command: /bin/true --x", "line 1: command: expected a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.src)
			if got := errString(err); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestConfigResolvesProgram(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src      string
		wantArgv []string
	}{
		{"script: sh\nargs: [-c, 'exit 0']", []string{sh, "-c", "exit 0"}},
		{"command: [sh, -c, 'exit 0']", []string{sh, "-c", "exit 0"}},
	}
	for _, tt := range tests {
		c, err := load(t, tt.src)
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if got := c.Argv(); fmt.Sprint(got) != fmt.Sprint(tt.wantArgv) {
			t.Errorf("%q: Argv() = %q, want %q", tt.src, got, tt.wantArgv)
		}
		if c.OutputLimit != DefaultOutputLimit {
			t.Errorf("%q: OutputLimit = %d, want the default %d", tt.src, c.OutputLimit, DefaultOutputLimit)
		}
	}
}

func TestConfigRun(t *testing.T) {
	c, err := load(t, `
command: [sh, -c, 'echo "$GREETING $WHO $CPRA_MONITOR"; exit 1']
env: {GREETING: hello, WHO: config}
output_limit: 100
`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(t.Context(), Var("WHO", "agent"), Var("CPRA_MONITOR", "db"))
	if got, want := errString(err), "exit status 1: hello agent db"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if !strings.HasPrefix(res.Output, "hello") {
		t.Errorf("Output = %q", res.Output)
	}
}
