package world

import (
	"iter"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// packedPhases keeps a check's phases in 12 bytes: each a 16-bit float of
// microseconds, a 12-bit mantissa and a 4-bit exponent, so it reaches
// 4095·2^15 µs (134 s) with at most 1/4096 rounding.
type packedPhases [pulse.NumPhases]uint16

func packPhases(ph pulse.Phases) (p packedPhases) {
	for i, d := range ph {
		p[i] = packMicros(d)
	}
	return p
}

func (p packedPhases) unpack() (ph pulse.Phases) {
	for i, v := range p {
		ph[i] = time.Duration(uint64(v&0xfff)<<(v>>12)) * time.Microsecond
	}
	return ph
}

func packMicros(d time.Duration) uint16 {
	m := uint64(max(d, 0) / time.Microsecond)
	e := uint16(0)
	for m > 0xfff {
		if e == 15 {
			return 0xffff // saturated: 134 s or more
		}
		m = (m + 1) >> 1
		e++
	}
	return e<<12 | uint16(m)
}

// LastCheck is a monitor's latest check outcome, kept in its Runtime in
// eight bytes: the time in whole seconds, the duration as a float32.
type LastCheck struct {
	OK         bool
	At         time.Time // when the outcome was applied; zero when there is none
	Duration   time.Duration
	CertExpiry time.Time // the earliest certificate expiry it saw; zero without TLS
	// Phases is where its time went, to about 0.05 % (packedPhases).
	Phases pulse.Phases
}

// Checked reports whether the monitor has been checked since it was added
// or last enabled (a disabled monitor's last check is forgotten: it is not
// being checked).
func (c LastCheck) Checked() bool { return !c.At.IsZero() }

// Series receives the views of the monitors that opted in to per-monitor
// series (Profile.Metrics), the same View that Lookup gives /probe. The world calls it on its owner
// goroutine and only for those monitors: one that did not opt in costs one
// branch per check.
type Series interface {
	// SetMonitors is called at the end of every Apply with every opted-in
	// monitor, in the order of the file; the set replaces the previous one.
	SetMonitors(iter.Seq[View])
	// Update is called when an opted-in monitor's check outcome or
	// intervention outcome has been applied.
	Update(View)
}

// recordCheck keeps a check's outcome in the monitor's runtime.
func (rt *Runtime) recordCheck(ok bool, d time.Duration, now time.Time, certExpiry int64, phases pulse.Phases) {
	rt.LastOK = ok
	rt.LastPhases = packPhases(phases)
	rt.LastAt = uint32(max(1, min(now.Unix(), int64(^uint32(0)))))
	rt.LastDuration = float32(d.Seconds())
	rt.CertExpiry = uint32(max(0, min(certExpiry, int64(^uint32(0)))))
}

// forgetCheck drops the last check of a monitor that is no longer checked.
func (rt *Runtime) forgetCheck() {
	rt.LastOK, rt.LastAt, rt.LastDuration, rt.CertExpiry = false, 0, 0, 0
	rt.LastPhases = packedPhases{}
}

func (rt *Runtime) lastCheck() LastCheck {
	if rt.LastAt == 0 {
		return LastCheck{}
	}
	last := LastCheck{
		OK:       rt.LastOK,
		At:       time.Unix(int64(rt.LastAt), 0),
		Duration: time.Duration(float64(rt.LastDuration) * float64(time.Second)),
		Phases:   rt.LastPhases.unpack(),
	}
	if rt.CertExpiry != 0 {
		last.CertExpiry = time.Unix(int64(rt.CertExpiry), 0)
	}
	return last
}

// updateSeries tells the series about an opted-in monitor.
func (w *World) updateSeries(e ecs.Entity) {
	if w.series != nil {
		w.series.Update(w.view(e))
	}
}

// syncSeries hands the series every opted-in monitor of ms, which the
// world has just applied.
func (w *World) syncSeries(ms []config.Monitor, kept Kept) {
	if w.series == nil {
		return
	}
	w.series.SetMonitors(func(yield func(View) bool) {
		for i := range ms {
			if !ms[i].Metrics {
				continue
			}
			if e, ok := w.lookup(ms[i].Name); ok && !yield(w.view(e)) {
				return
			}
		}
		for i, e := range kept.Entities {
			if kept.Lines[i] == 0 || !w.ecs.Alive(e) {
				continue
			}
			if id, _ := w.monitors.Get(e); w.profile(id).Metrics && !yield(w.view(e)) {
				return
			}
		}
	})
}
