package owner

import (
	"iter"
	"log/slog"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// monitorSeries connects the world's opted-in monitors (world.Series) to
// their cpra_monitor_* series. The world calls it on the owner goroutine.
type monitorSeries struct {
	s     *telemetry.MonitorSeries
	limit int
	log   *slog.Logger
}

// newMonitorSeries registers the per-monitor series, limited by
// metrics.per_monitor_limit.
func newMonitorSeries(m *telemetry.Metrics, cfg config.Metrics, log *slog.Logger) *monitorSeries {
	return &monitorSeries{s: m.EnableMonitorSeries(cfg.PerMonitorLimit), limit: cfg.PerMonitorLimit, log: log}
}

// SetMonitors implements world.Series.
func (ms *monitorSeries) SetMonitors(monitors iter.Seq[world.View]) {
	refused := ms.s.Sync(func(yield func(telemetry.MonitorSample) bool) {
		for m := range monitors {
			if !yield(MonitorSample(m)) {
				return
			}
		}
	})
	if refused > 0 {
		ms.log.Warn("monitors opted in to per-monitor series but the limit is reached: they have none",
			"refused", refused, "limit", ms.limit, "setting", "metrics.per_monitor_limit")
	}
}

// Update implements world.Series.
func (ms *monitorSeries) Update(v world.View) { ms.s.Update(MonitorSample(v)) }

// The target's phases of pulse follow telemetry.HTTPPhases, in order.
var _ = [1]struct{}{}[int(pulse.NumPhases)-1-len(telemetry.HTTPPhases)]

// MonitorSample is what /probe and the per-monitor series show of a
// monitor's view.
func MonitorSample(v world.View) telemetry.MonitorSample {
	x := telemetry.MonitorSample{Monitor: v.Name, State: v.State.String(), CheckType: v.Type}
	if last := v.Last; last.Checked() {
		x.Checked, x.Up = true, last.OK
		x.Duration = last.Duration.Seconds()
		x.Timestamp = float64(last.At.Unix())
		x.Queued = last.Phases[pulse.PhaseQueued].Seconds()
		for i := range x.Phases {
			x.Phases[i] = last.Phases[pulse.PhaseResolve+pulse.Phase(i)].Seconds()
		}
		if !last.CertExpiry.IsZero() {
			x.CertExpiry = float64(last.CertExpiry.Unix())
		}
	}
	return x
}
