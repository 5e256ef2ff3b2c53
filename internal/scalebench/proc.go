package scalebench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// ProcSample is what /proc says about one process at one moment.
type ProcSample struct {
	CPU     time.Duration // user + system time so far
	RSS     int64         // resident set, bytes
	Sockets int           // open socket descriptors
}

// ReadProc samples pid.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name is in parentheses and may hold spaces: the fields
	// that follow start after the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// Fields 14 and 15 of stat(5) are utime and stime; f[0] is field 3.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			s.RSS = kb << 10
		}
	}

	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			s.Sockets++
		}
	}
	return s, nil
}

// cpuOf sums the CPU time of pids; processes that are gone count zero.
func cpuOf(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if s, err := ReadProc(pid); err == nil {
			total += s.CPU
		}
	}
	return total
}

// childrenOf lists pid's child processes.
func childrenOf(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for f := range strings.FieldsSeq(string(data)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// HostSample is the machine's CPU time so far, from the first line of
// /proc/stat, in USER_HZ ticks: Steal is time the hypervisor gave this
// VM's CPUs to someone else, the cause of stalls that no profile of the
// agent shows.
type HostSample struct {
	Total, Steal int64
}

// ReadHost samples /proc/stat.
func ReadHost() (HostSample, error) {
	var h HostSample
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return h, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice],
	// guest time already counted in user.
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return h, fmt.Errorf("/proc/stat: field %d: %w", i+1, err)
		}
		h.Total += n
		if i == 7 {
			h.Steal = n
		}
	}
	return h, nil
}

// stealPercent is the share of the machine's CPU time between a and b that
// was stolen.
func stealPercent(a, b HostSample) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return 100 * float64(b.Steal-a.Steal) / float64(b.Total-a.Total)
}
