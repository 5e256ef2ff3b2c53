package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests here do not run in parallel: writing a script while another test
// forks can make exec fail with "text file busy".

func writeFile(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	notExec := writeFile(t, "plain.sh", "#!/bin/sh\nexit 0\n", 0o644)
	script := writeFile(t, "check.sh", "#!/bin/sh\necho \"args: $*\"\nexit \"$1\"\n", 0o755)

	tests := []struct {
		name     string
		argv     []string
		wantErr  string // "" for success
		wantCode int
		wantOut  string
	}{
		{name: "exit 0", argv: []string{"true"}, wantCode: 0},
		{name: "script by path", argv: []string{script, "0"}, wantCode: 0, wantOut: "args: 0\n"},
		{name: "script exit status", argv: []string{script, "4"}, wantErr: "exit status 4: args: 4", wantCode: 4, wantOut: "args: 4\n"},
		{
			name:     "exit status with last line of stderr",
			argv:     []string{"sh", "-c", `echo starting; echo "disk full" >&2; exit 3`},
			wantErr:  "exit status 3: disk full",
			wantCode: 3,
			wantOut:  "starting\ndisk full\n",
		},
		{name: "exit status without output", argv: []string{"sh", "-c", "exit 3"}, wantErr: "exit status 3", wantCode: 3},
		{
			// Arguments reach the program verbatim: no shell parses them.
			name:    "no shell",
			argv:    []string{"sh", "-c", `printf '%s|' "$@"`, "sh", "a b", "$HOME", ";rm -rf x", "*"},
			wantOut: "a b|$HOME|;rm -rf x|*|",
		},
		{name: "killed by a signal", argv: []string{"sh", "-c", "echo bye; kill -9 $$"}, wantErr: "signal: killed: bye", wantCode: -1, wantOut: "bye\n"},
		{name: "absolute path not found", argv: []string{"/nonexistent/check.sh"}, wantErr: "executable not found: /nonexistent/check.sh", wantCode: -1},
		{name: "name not in PATH", argv: []string{"cpra-no-such-program"}, wantErr: "executable not found: cpra-no-such-program", wantCode: -1},
		{name: "not executable", argv: []string{notExec}, wantErr: "cannot run " + notExec + ": permission denied", wantCode: -1},
		{name: "empty argv", argv: nil, wantErr: "no program to run", wantCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := Run(ctx, tt.argv, nil, 0)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if res.Output != tt.wantOut {
				t.Errorf("Output = %q, want %q", res.Output, tt.wantOut)
			}
		})
	}
}

func TestRunExitErrorIsExecExitError(t *testing.T) {
	_, err := Run(t.Context(), []string{"sh", "-c", "exit 2"}, nil, 0)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("error %v is not an *exec.ExitError with code 2", err)
	}
}

func TestRunNotFoundWrapsExecErrNotFound(t *testing.T) {
	_, err := Run(t.Context(), []string{"cpra-no-such-program"}, nil, 0)
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("error %v does not wrap exec.ErrNotFound", err)
	}
}

func TestRunOutputTruncation(t *testing.T) {
	argv := []string{"sh", "-c", `i=0; while [ $i -lt 1000 ]; do echo "line $i"; i=$((i+1)); done; echo "the end" >&2; exit 1`}
	res, err := Run(t.Context(), argv, nil, 100)
	if got, want := errString(err), "exit status 1: the end"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if !res.Truncated {
		t.Error("Truncated = false, want true")
	}
	if len(res.Output) != 100 {
		t.Errorf("len(Output) = %d, want 100", len(res.Output))
	}
	if !strings.HasSuffix(res.Output, "line 999\nthe end\n") {
		t.Errorf("Output does not keep the tail: %q", res.Output)
	}

	res, err = Run(t.Context(), []string{"sh", "-c", "echo short"}, nil, 100)
	if err != nil || res.Truncated || res.Output != "short\n" {
		t.Errorf("short output: res = %+v, err = %v", res, err)
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Setenv("CPRA_TEST_SECRET", "hunter2")
	t.Setenv("HOME", "/home/agent")
	argv := []string{"sh", "-c", `echo "foo=$FOO home=$HOME secret=${CPRA_TEST_SECRET-unset} path=${PATH:+set}"`}
	res, err := Run(t.Context(), argv, []string{"FOO=bar baz"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "foo=bar baz home=/home/agent secret=unset path=set\n"; res.Output != want {
		t.Errorf("Output = %q, want %q", res.Output, want)
	}

	// Later entries win over the base environment.
	res, err = Run(t.Context(), []string{"sh", "-c", `echo "$HOME"`}, []string{"HOME=/elsewhere"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "/elsewhere\n" {
		t.Errorf("Output = %q, want the overridden HOME", res.Output)
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	// The grandchild keeps stdout open too: Run must still return.
	res, err := Run(ctx, []string{"sh", "-c", "sleep 60 & echo $!; sleep 60"}, nil, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if !strings.HasPrefix(err.Error(), "timed out after ") {
		t.Errorf("error = %q, want it to start with %q", err, "timed out after ")
	}
	if res.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1", res.ExitCode)
	}
	pid := pidFrom(t, res.Output)
	waitGone(t, pid)
}

func TestStopErrorMessage(t *testing.T) {
	deadline := time.Now().Add(-time.Minute)
	expired, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()

	tests := []struct {
		ctx   context.Context
		start time.Time
		want  string
	}{
		// Run starts a moment after the context is made; the budget is rounded.
		{expired, deadline.Add(-2*time.Second + 3*time.Millisecond), "timed out after 2s"},
		{expired, deadline.Add(-1500 * time.Millisecond), "timed out after 1.5s"},
		{expired, deadline.Add(-250 * time.Millisecond), "timed out after 250ms"},
		{expired, deadline.Add(time.Second), "timed out after 0s"},
	}
	for _, tt := range tests {
		err := &stopError{after: budget(tt.ctx, tt.start), err: tt.ctx.Err()}
		if err.Error() != tt.want {
			t.Errorf("got %q, want %q", err, tt.want)
		}
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := Run(ctx, []string{"sleep", "60"}, nil, 0)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "canceled after ") {
		t.Fatalf("error = %v, want a cancellation", err)
	}
}

func TestRunAlreadyExpired(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	_, err := Run(ctx, []string{"true"}, nil, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
}

// A process that leaves the group (setsid) cannot be killed with it; Run must
// still return once the context ends instead of waiting for its output.
func TestRunTimeoutWithEscapedGrandchild(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, []string{"sh", "-c", "setsid sleep 60 & echo $!; sleep 60"}, nil, 0)
	killLater(t, res.Output)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
}

// A program that exits 0 but leaves a process holding its output succeeds.
func TestRunSuccessWithLingeringGrandchild(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	res, err := Run(t.Context(), []string{"sh", "-c", "setsid sleep 60 & echo $!; exit 0"}, nil, 0)
	killLater(t, res.Output)
	if err != nil {
		t.Fatalf("error = %v, want success", err)
	}
	if res.ExitCode != 0 {
		t.Errorf("ExitCode = %d, want 0", res.ExitCode)
	}
}

func TestLastLine(t *testing.T) {
	tests := []struct {
		out, want string
	}{
		{"", ""},
		{"\n \n\t\n", ""},
		{"one", "one"},
		{"first\nsecond\n", "second"},
		{"first\nsecond\n\n   \n", "second"},
		{"dos\r\nline\r\n", "line"},
		{"  padded  \n", "padded"},
		{"\x1b[31mred\x1b[0m\n", "[31mred[0m"},
		{"bad \xff utf8\n", "bad ? utf8"},
		{strings.Repeat("x", 300) + "\n", strings.Repeat("x", 200)},
		{strings.Repeat("é", 300), strings.Repeat("é", 200)},
	}
	for _, tt := range tests {
		if got := (Result{Output: tt.out}).LastLine(); got != tt.want {
			t.Errorf("LastLine(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{limit: 5}
	for _, s := range []string{"ab", "cdefgh", "", "ijklmnopqrstu", "v"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "rstuv" {
		t.Errorf("String() = %q, want %q", got, "rstuv")
	}
	if b.dropped != 17 {
		t.Errorf("dropped = %d, want 17", b.dropped)
	}
}

func TestVar(t *testing.T) {
	if got := Var("CPRA_REASON", "a\x00b=c"); got != "CPRA_REASON=ab=c" {
		t.Errorf("Var = %q", got)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func pidFrom(t *testing.T, out string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
	if err != nil || pid <= 0 {
		t.Fatalf("no pid in output %q", out)
	}
	return pid
}

// killLater kills the pid printed by a test program when the test ends.
func killLater(t *testing.T, out string) {
	pid := pidFrom(t, out)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// waitGone waits until pid no longer runs. A killed orphan may linger as a
// zombie until init reaps it; that counts as gone. The bound only keeps a
// broken kill from hanging the test.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 200 {
		if !running(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("grandchild %d still running after the timeout", pid)
}

func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "123 (sleep) S ...".
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// A program that exits and leaves a child running in its group has the
// child killed: a script check run every few seconds would otherwise pile
// up orphans (issue #11, item 4).
func TestRunKillsWhatTheProgramLeftInItsGroup(t *testing.T) {
	res, err := Run(t.Context(), []string{"sh", "-c", "sleep 300 & echo $!; exit 0"}, nil, 0)
	if err != nil {
		t.Fatalf("error = %v, want success", err)
	}
	pid := pidFrom(t, res.Output)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	waitGone(t, pid)
}

// The same for a program that fails: its group goes with it.
func TestRunKillsTheGroupOfAFailedProgram(t *testing.T) {
	res, err := Run(t.Context(), []string{"sh", "-c", "sleep 300 & echo $!; exit 3"}, nil, 0)
	if err == nil {
		t.Fatal("exit 3 succeeded")
	}
	pid := pidFrom(t, res.Output)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	waitGone(t, pid)
}
