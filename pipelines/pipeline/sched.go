package pipeline

import (
	"math"
	"runtime/metrics"
	"syscall"
)

// schedLatency reads the Go scheduler's latency histogram (how long
// goroutines waited, runnable, for a CPU) and reports a quantile of what
// happened since the last read. It is the sizing controller's CPU gauge:
// near zero while the process has CPU to spare, milliseconds once it is
// CPU-bound.
type schedLatency struct {
	sample []metrics.Sample
	prev   []uint64
}

const schedLatencyMetric = "/sched/latencies:seconds"

func (l *schedLatency) init() {
	l.sample = []metrics.Sample{{Name: schedLatencyMetric}}
	metrics.Read(l.sample)
	if h := l.hist(); h != nil {
		l.prev = append([]uint64(nil), h.Counts...)
	}
}

func (l *schedLatency) hist() *metrics.Float64Histogram {
	if len(l.sample) == 0 || l.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return l.sample[0].Value.Float64Histogram()
}

// p90 returns the 90th percentile in seconds since the last call; 0
// without data.
func (l *schedLatency) p90() float64 {
	if len(l.sample) == 0 {
		return 0
	}
	metrics.Read(l.sample)
	h := l.hist()
	if h == nil {
		return 0
	}
	if len(l.prev) != len(h.Counts) {
		l.prev = make([]uint64, len(h.Counts))
	}
	var total uint64
	delta := make([]uint64, len(h.Counts))
	for i, c := range h.Counts {
		delta[i] = c - l.prev[i]
		total += delta[i]
	}
	copy(l.prev, h.Counts)
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(0.9 * float64(total)))
	var seen uint64
	for i, c := range delta {
		seen += c
		if seen >= rank {
			// Buckets[i] and Buckets[i+1] bound bucket i; take its lower
			// bound, so the gauge never overstates.
			return max(h.Buckets[i], 0)
		}
	}
	return 0
}

// OpenFilesBudget is how many workers of a network check the process's
// open-files limit (RLIMIT_NOFILE) leaves room for: each busy worker may
// hold a socket, and a reserve stays for listeners, scrapes, logs and
// notifiers. It returns 0 when the limit cannot be read.
func OpenFilesBudget() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 0
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	// The rest is the agent's own: web connections, the state directory,
	// notifiers, log files. A quarter of a small limit, 512 of a large one.
	reserve := min(int(rl.Cur)/4, 512)
	return max(int(rl.Cur)-reserve, 1)
}
