package proc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultOutputLimit is how many bytes of output are kept when no limit is given.
const DefaultOutputLimit = 4096

// waitDelay bounds how long Run waits for the output pipe to close once the
// program's group has been killed, so that a process which left the group
// (setsid) and keeps it open cannot hold a check or remedy hostage.
const waitDelay = time.Second

// maxLineLen is the longest piece of output quoted in an error, in characters.
const maxLineLen = 200

// defaultPath is the PATH given to programs when the agent has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Result is what a program left behind.
type Result struct {
	// ExitCode is the program's exit status, or -1 when it did not exit by
	// itself (killed by a signal, or never started).
	ExitCode int
	// Output is stdout and stderr interleaved, at most the limit given to
	// Run. When Truncated is set, bytes were dropped from the front.
	Output    string
	Truncated bool
	Duration  time.Duration // from start until the program exited and its output was read
}

// LastLine returns the last non-empty line of the output, stripped of
// control characters and cut to 200 characters, for error messages.
func (r Result) LastLine() string {
	out := r.Output
	for out != "" {
		i := strings.LastIndexByte(out, '\n')
		if line := strings.TrimSpace(out[i+1:]); line != "" {
			return printable(line)
		}
		if i < 0 {
			break
		}
		out = out[:i]
	}
	return ""
}

// printable makes s safe to embed in a one-line message.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxLineLen {
		s = string([]rune(s)[:maxLineLen])
	}
	return s
}

// Run executes argv[0] with the arguments argv[1:], without a shell. env
// ("KEY=value" entries) is appended to the small base environment described
// in the package documentation. At most outputLimit bytes of output are kept
// (DefaultOutputLimit when outputLimit <= 0).
//
// The program runs in its own process group. When it exits, whatever it
// left running in the group is killed with SIGKILL, so a check every few
// seconds cannot pile up orphans; a process that must outlive it (a daemon a
// remedy starts) has to leave the group (setsid) or be started by a service
// manager. When ctx ends first, the whole group is killed and Run returns an
// error reading "timed out after 2s" (or "canceled after ...") that wraps
// ctx.Err(). A non-zero exit is an *exec.ExitError annotated with the last
// line of output ("exit status 3: disk full"). If a process that left the
// group keeps the output open, Run stops reading it after a short delay.
func Run(ctx context.Context, argv []string, env []string, outputLimit int) (Result, error) {
	res := Result{ExitCode: -1}
	if len(argv) == 0 || argv[0] == "" {
		return res, errors.New("no program to run")
	}
	path, err := LookPath(argv[0])
	if err != nil {
		return res, err
	}
	if outputLimit <= 0 {
		outputLimit = DefaultOutputLimit
	}
	out := &tailBuffer{limit: outputLimit}
	// One pipe for both streams, read by one goroutine of ours: the output
	// keeps its order, and Wait returns as soon as the program exits (it
	// does not wait for the pipe), so the group can be killed right then.
	pr, pw, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("start %s: %w", argv[0], err)
	}
	defer pr.Close()

	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }

	start := time.Now()
	err = cmd.Start()
	pw.Close() // the program has its copy; the pipe ends when its group does
	if err != nil {
		if ctx.Err() != nil {
			return res, &stopError{after: 0, err: ctx.Err()}
		}
		return res, fmt.Errorf("start %s: %w", argv[0], err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	err = cmd.Wait()
	// The leader is gone (and reaped); its group lives on while anything it
	// started still runs, and the kernel keeps the group's ID from being
	// reused until then.
	_ = killGroup(cmd.Process.Pid)
	select {
	case <-copied:
	case <-time.After(waitDelay): // an escaped process holds the pipe
		pr.Close()
		<-copied
	}
	res.Duration = time.Since(start)
	res.Output, res.Truncated = out.String(), out.dropped > 0
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}

	switch {
	case cmd.ProcessState != nil && cmd.ProcessState.Success():
		return res, nil
	case ctx.Err() != nil:
		return res, &stopError{after: budget(ctx, start), err: ctx.Err()}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if line := res.LastLine(); line != "" {
			return res, fmt.Errorf("%w: %s", exitErr, line)
		}
		return res, exitErr
	}
	return res, fmt.Errorf("run %s: %w", argv[0], err)
}

// LookPath resolves a program the way Run does: a name with a slash is a
// path, any other name is searched in the agent's PATH. The result is
// absolute. Errors read "executable not found: NAME" or "cannot run NAME:
// permission denied".
func LookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		inner := err
		var execErr *exec.Error
		if errors.As(err, &execErr) {
			inner = execErr.Err
		}
		if errors.Is(inner, exec.ErrNotFound) || errors.Is(inner, fs.ErrNotExist) {
			return "", &notFoundError{name: name, err: err}
		}
		return "", fmt.Errorf("cannot run %s: %w", name, inner)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("cannot run %s: %w", name, err)
	}
	return abs, nil
}

// Var formats an environment entry. NUL bytes are dropped because a program
// cannot be started with them in its environment.
func Var(key, value string) string {
	return key + "=" + strings.ReplaceAll(value, "\x00", "")
}

// baseEnv is the part of the agent's environment every program gets. It is
// deliberately small: the agent's own environment may hold secrets.
func baseEnv() []string {
	env := []string{"PATH=" + cmp.Or(os.Getenv("PATH"), defaultPath)}
	for _, key := range []string{"HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(key); ok {
			env = append(env, key+"="+v)
		}
	}
	return env
}

// killGroup kills the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		// Tell exec the process is already gone rather than report a failure.
		return os.ErrProcessDone
	}
	return err
}

// budget is how long the program was allowed to run: up to ctx's deadline
// when that is what ended it, otherwise until now.
func budget(ctx context.Context, start time.Time) time.Duration {
	d := time.Since(start)
	if deadline, ok := ctx.Deadline(); ok && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		d = max(deadline.Sub(start), 0)
	}
	// Round so that a 2s timeout reads "2s", not "1.999873s".
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// stopError reports a program stopped because its context ended.
type stopError struct {
	after time.Duration
	err   error // ctx.Err()
}

func (e *stopError) Error() string {
	if errors.Is(e.err, context.DeadlineExceeded) {
		return "timed out after " + e.after.String()
	}
	return "canceled after " + e.after.String()
}

func (e *stopError) Unwrap() error { return e.err }

// notFoundError is exec's not-found error with a message that also fits
// absolute paths ("executable not found: /opt/check.sh").
type notFoundError struct {
	name string
	err  error
}

func (e *notFoundError) Error() string { return "executable not found: " + e.name }
func (e *notFoundError) Unwrap() error { return e.err }

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	limit   int
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	// Drop the front only once the buffer holds twice the limit, so each
	// byte is moved a bounded number of times.
	if len(b.buf) >= 2*b.limit {
		b.trim()
	}
	return len(p), nil
}

func (b *tailBuffer) trim() {
	if extra := len(b.buf) - b.limit; extra > 0 {
		b.dropped += int64(extra)
		b.buf = append(b.buf[:0], b.buf[extra:]...)
	}
}

func (b *tailBuffer) String() string {
	b.trim()
	return string(b.buf)
}
