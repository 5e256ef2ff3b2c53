package scalebench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ConfigCheckResult is one `cpra-agent --config.check` of a monitor file.
type ConfigCheckResult struct {
	File    string
	Bytes   int64
	Elapsed time.Duration
	PeakRSS int64 // bytes, the process's maximum resident set
	Failed  bool  // the agent exited non-zero (the file has an error)
	Output  string
}

// ConfigCheck writes a file of n monitors to dir twice, valid and with a
// syntax error on its last line, and runs `agent --config.check` on each:
// finding an error late in a large file should cost what checking the
// valid file costs (issue #22).
func ConfigCheck(ctx context.Context, agent, dir string, n int) ([]ConfigCheckResult, error) {
	valid := filepath.Join(dir, "monitors.yaml")
	addrs := []string{"127.0.0.1:8080"}
	if err := WriteMonitorFile(valid, n, addrs, time.Minute, 5*time.Second, filepath.Join(dir, "codes.log"), 0); err != nil {
		return nil, err
	}
	broken := filepath.Join(dir, "monitors-late-error.yaml")
	if err := copyFile(valid, broken); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(broken, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	// The last monitor's block, with a key one column off: a syntax error.
	_, err = fmt.Fprintf(f, "  - name: svc-late\n    pulse_check:\n      type: http\n     interval: 30s\n      config: {url: \"http://%s/late\"}\n", addrs[0])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var out []ConfigCheckResult
	for _, file := range []string{valid, broken} {
		r, err := configCheck(ctx, agent, file)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func configCheck(ctx context.Context, agent, file string) (ConfigCheckResult, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return ConfigCheckResult{}, err
	}
	cmd := exec.CommandContext(ctx, agent, "--config.check", "--yaml="+file)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	r := ConfigCheckResult{File: filepath.Base(file), Bytes: fi.Size(), Elapsed: time.Since(start), Output: lastLines(string(output), 3)}
	if cmd.ProcessState == nil {
		return r, fmt.Errorf("run %s: %w", agent, err)
	}
	r.Failed = !cmd.ProcessState.Success()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// lastLines is the last n lines of s, each cut to 200 bytes.
func lastLines(s string, n int) string {
	var lines []string
	for len(s) > 0 {
		i := len(s) - 1
		for i > 0 && s[i-1] != '\n' {
			i--
		}
		line := s[i:]
		s = s[:max(i-1, 0)]
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		if line != "" && line != "\n" {
			lines = append([]string{line}, lines...)
		}
		if len(lines) == n {
			break
		}
	}
	out := ""
	for _, l := range lines {
		out += l
		if l[len(l)-1] != '\n' {
			out += "\n"
		}
	}
	return out
}
