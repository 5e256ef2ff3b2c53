package scriptremedy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/proc"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// Tests here do not run in parallel: writing a script while another test
// forks can make exec fail with "text file busy".

func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fix.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func newRemedyFrom(t *testing.T, src string) intervention.Remedy {
	t.Helper()
	r, err := Kind.New(spectest.Block(t, src), kind.Deps{})
	if err != nil {
		t.Fatalf("New(%q): %v", src, err)
	}
	return r
}

func testRequest() intervention.Request {
	return intervention.Request{
		Monitor: "api",
		State:   "down",
		Reason:  "status 503",
		Groups:  []string{"prod", "eu-west"},
		Attempt: 2,
	}
}

func TestApplyEnvironment(t *testing.T) {
	script := writeScript(t, `
want="api|down|status 503|2|prod,eu-west|orders"
got="$CPRA_MONITOR|$CPRA_STATE|$CPRA_REASON|$CPRA_ATTEMPT|$CPRA_GROUPS|$QUEUE"
[ "$got" = "$want" ] || { echo "got $got"; exit 1; }
`)
	r := newRemedyFrom(t, "script: "+script+"\nenv: {QUEUE: orders}")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := r.Apply(ctx, testRequest()); err != nil {
		t.Fatal(err)
	}
}

func TestApplyFailure(t *testing.T) {
	script := writeScript(t, "echo stopping api\necho 'unit api.service not found' >&2\nexit 5\n")
	r := newRemedyFrom(t, "script: "+script)
	err := r.Apply(t.Context(), testRequest())
	if want := script + ": exit status 5: unit api.service not found"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 5 {
		t.Errorf("error %v does not wrap an *exec.ExitError with code 5", err)
	}
}

func TestApplyTimeout(t *testing.T) {
	r := newRemedyFrom(t, "command: [sleep, '60']\ntimeout: 1s")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := r.Apply(ctx, testRequest())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), ": timed out after ") {
		t.Errorf("error = %v, want a timeout", err)
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		src  string
		want intervention.Policy
	}{
		{"command: [true]", intervention.Policy{
			Timeout: spec.Duration(intervention.DefaultTimeout),
			Backoff: spec.Duration(intervention.DefaultBackoff),
		}},
		{"command: [true]\ntimeout: 5s\nretries: 2\nbackoff: 2s", intervention.Policy{
			Timeout: spec.Duration(5 * time.Second),
			Retries: 2,
			Backoff: spec.Duration(2 * time.Second),
		}},
	}
	for _, tt := range tests {
		if got := newRemedyFrom(t, tt.src).Policy(); got != tt.want {
			t.Errorf("%q: Policy() = %+v, want %+v", tt.src, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing program", "timeout: 30s", "line 1: script: required (or set command)"},
		{"not found", "script: /nonexistent/fix.sh\ntimeout: 30s", "line 1: script: executable not found: /nonexistent/fix.sh"},
		{"both forms", "script: /bin/true\ncommand: [/bin/true]", "line 2: command: cannot be combined with script; use one of them"},
		{"negative retries", "command: [true]\nretries: -1", "line 2: retries: must be 0 or more, got -1"},
		{"reserved env", "command: [true]\nenv:\n  CPRA_REASON: x", "line 3: env.CPRA_REASON: names starting with CPRA_ are set by the agent"},
		{
			"every problem at once",
			"script: /nonexistent/fix.sh\nretries: -2",
			"line 1: script: executable not found: /nonexistent/fix.sh\nline 2: retries: must be 0 or more, got -2",
		},
		{
			"unknown key",
			"command: [true]\ncontainer: api",
			"line 2: container: unknown field (known: args, backoff, command, env, output_limit, retries, script, timeout)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind.New(spectest.Block(t, tt.src), kind.Deps{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v\nwant %q", err, tt.want)
			}
		})
	}
}

func TestDestination(t *testing.T) {
	script := writeScript(t, "exit 0\n")
	sh, err := proc.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	tests := []struct {
		name, src, want string
	}{
		{"script", "script: " + script + "\nargs: [--graceful]", "script:" + script},
		{"command", "command: [" + script + ", --graceful]", "script:" + script},
		{"command looked up in PATH", "command: [sh, -c, 'exit 0']", "script:" + sh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRemedyFrom(t, tt.src)
			for _, monitor := range []string{"api", "db"} {
				if got := r.Destination(intervention.Request{Monitor: monitor}); got != tt.want {
					t.Errorf("Destination for %s = %q, want %q", monitor, got, tt.want)
				}
			}
		})
	}
}
