package scriptcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Tests here do not run in parallel: writing a script while another test
// forks can make exec fail with "text file busy".

func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKind(t *testing.T) {
	if Kind.Name != "script" || len(Kind.AddressKeys) != 0 {
		t.Errorf("Kind = %q with address keys %q", Kind.Name, Kind.AddressKeys)
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name       string
		script     string // body of the script; the config is built around it
		extra      string // more config lines
		wantOK     bool
		wantReason string
	}{
		{name: "exit 0", script: "exit 0", wantOK: true},
		{
			name:       "exit status and last line",
			script:     "echo checking\necho 'queue depth 512 > 100' >&2\necho\nexit 2",
			wantReason: "exit status 2: queue depth 512 > 100",
		},
		{name: "silent failure", script: "exit 1", wantReason: "exit status 1"},
		{
			name:   "monitor name in the environment",
			script: `[ "$CPRA_MONITOR" = orders-queue ] || { echo "got '$CPRA_MONITOR'"; exit 1; }`,
			wantOK: true,
		},
		{
			name:   "args and env from the config",
			script: `[ "$1 $2 $QUEUE" = "--max 100 orders" ] || { echo "got '$1 $2 $QUEUE'"; exit 1; }`,
			extra:  "args: [--max, \"100\"]\nenv: {QUEUE: orders}\n",
			wantOK: true,
		},
		{
			name:       "long last line is cut",
			script:     "printf '%0300d\\n' 0\nexit 3",
			wantReason: "exit status 3: " + strings.Repeat("0", 200),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "script: " + writeScript(t, tt.script) + "\n" + tt.extra
			p, addr, err := Kind.New(spectest.Block(t, src), kind.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if addr != "" {
				t.Errorf("address = %q, want none", addr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			got := p.Probe(ctx, pulse.Target{Monitor: "orders-queue"})
			// Scripts have no host: a failure is never Unreachable.
			if got.OK != tt.wantOK || got.Reason != tt.wantReason || got.Unreachable {
				t.Errorf("Probe = %+v, want OK=%v Reason=%q", got, tt.wantOK, tt.wantReason)
			}
		})
	}
}

func TestProbeCommand(t *testing.T) {
	p, _, err := Kind.New(spectest.Block(t, `command: [sh, -c, 'echo "$0 $1"; exit 4', one, two]`), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Probe(t.Context(), pulse.Target{Monitor: "m"})
	if want := "exit status 4: one two"; got.OK || got.Reason != want {
		t.Errorf("Probe = %+v, want reason %q", got, want)
	}
}

func TestProbeTimeout(t *testing.T) {
	p, _, err := Kind.New(spectest.Block(t, "command: [sleep, '60']"), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	got := p.Probe(ctx, pulse.Target{Monitor: "m"})
	if got.OK || !strings.HasPrefix(got.Reason, "timed out after ") || got.Unreachable {
		t.Errorf("Probe = %+v, want a timeout, not unreachable", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing", "args: [x]", "line 1: script: required (or set command)"},
		{"not found", "env: {A: b}\nscript: /nonexistent/check.sh", "line 2: script: executable not found: /nonexistent/check.sh"},
		{"both forms", "script: /bin/true\ncommand: [/bin/true]", "line 2: command: cannot be combined with script; use one of them"},
		{"unknown key", "script: /bin/true\ntimeout: 5s", "line 2: timeout: unknown field (known: args, command, env, output_limit, script)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, tt.src), kind.Deps{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
