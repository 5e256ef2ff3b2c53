package pipeline

import (
	"sync"
	"time"

	"github.com/cpra-agent/cpra-agent/pipelines/sizing"
)

// estimatorHalfLife is how many samples it takes for an old observation's
// weight to halve in the traffic estimates. A thousand samples is about a
// second of checks on a busy agent and keeps the estimates steady against
// the scheduler's tick-sized bursts; quiet pipelines (interventions)
// effectively average over their recent history.
const estimatorHalfLife = 1000

// meter measures a pipeline for the sizing model and for Little's law.
// Producers call arrive, workers call complete; the controller reads a
// window at each decision. One mutex is enough: both calls are a few
// arithmetic operations, far cheaper than the jobs they describe.
type meter struct {
	mu  sync.Mutex
	est *sizing.Estimator

	// The current window.
	start       time.Time
	last        time.Time // last change of inSystem
	inSystem    int       // queued and running
	area        float64   // ∫ inSystem dt over the window, job·seconds
	arrivals    int
	completions int
	sojourn     float64 // total time in the pipeline of the completed jobs, seconds
}

// window is one interval's measurements.
type window struct {
	Length      time.Duration
	Arrivals    int
	Completions int
	InSystem    int     // jobs queued or running at the end of the window
	L           float64 // time-average jobs in the pipeline
	LambdaW     float64 // arrival rate × mean time in the pipeline
	Estimate    sizing.Snapshot
}

func newMeter(now time.Time) *meter {
	return &meter{
		est:   sizing.NewEstimator(sizing.AlphaForHalfLife(estimatorHalfLife)),
		start: now,
		last:  now,
	}
}

// advance accumulates the area up to now; callers hold mu.
func (m *meter) advance(now time.Time) {
	if now.After(m.last) {
		m.area += float64(m.inSystem) * now.Sub(m.last).Seconds()
		m.last = now
	}
}

// arrive records a job entering the pipeline at now that arrived (became
// due) at arrived; the sizing model sees arrivals at their due times.
func (m *meter) arrive(now, arrived time.Time) {
	m.mu.Lock()
	m.advance(now)
	m.inSystem++
	m.arrivals++
	m.est.ObserveArrival(arrived)
	m.mu.Unlock()
}

// leave removes a job that was not worked (refused by a full ring, dropped
// on shutdown).
func (m *meter) leave(now time.Time) {
	m.mu.Lock()
	m.advance(now)
	m.inSystem = max(m.inSystem-1, 0)
	m.mu.Unlock()
}

// complete records a job that was queued at `at`, started at start and
// finished at end, of which it spent local waiting for the agent's own
// resources: that part is left out of its service time, so the model
// sizes the pool from the work's own time (the targets'), not from a
// local cap's queueing.
func (m *meter) complete(at, start, end time.Time, local time.Duration) {
	m.mu.Lock()
	m.advance(end)
	m.inSystem = max(m.inSystem-1, 0)
	m.completions++
	m.sojourn += end.Sub(at).Seconds()
	m.est.ObserveService(max(end.Sub(start)-local, 0))
	m.mu.Unlock()
}

// take closes the current window at now and starts the next.
func (m *meter) take(now time.Time) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	w := window{
		Length:      now.Sub(m.start),
		Arrivals:    m.arrivals,
		Completions: m.completions,
		InSystem:    m.inSystem,
		Estimate:    m.est.Snapshot(),
	}
	if secs := w.Length.Seconds(); secs > 0 {
		w.L = m.area / secs
		if m.completions > 0 {
			w.LambdaW = float64(m.arrivals) / secs * (m.sojourn / float64(m.completions))
		}
	}
	m.start, m.area, m.arrivals, m.completions, m.sojourn = now, 0, 0, 0, 0
	return w
}
