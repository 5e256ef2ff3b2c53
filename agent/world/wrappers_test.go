package world

import (
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// The tests' short forms of ApplyKept and Offer.

// Apply makes the world match ms: new monitors are added, removed ones
// deleted (with gray when an incident was open), changed ones updated in
// place keeping their state, unchanged ones left alone.
func (w *World) Apply(ms []config.Monitor, now time.Time, fx *Effects) ApplyStats {
	st, _ := w.ApplyKept(ms, testInstances{}, Kept{}, now, fx)
	return st
}

// Due is Offer where submit accepts or refuses: it reports whether the
// walk stopped early.
func (w *World) Due(now time.Time, submit func(CheckJob) bool) bool {
	return w.Offer(now, func(j CheckJob) OfferResult {
		if submit(j) {
			return Accepted
		}
		return Refused
	})
}

// applyParsed builds a parsed file's instances, as a load does, and
// applies its monitors.
func applyParsed(tb testing.TB, w *World, ms *config.Monitors, now time.Time, fx *Effects) ApplyStats {
	tb.Helper()
	if err := ms.Instances.Build(); err != nil {
		tb.Fatal(err)
	}
	st, _ := w.ApplyKept(ms.Monitors, ms.Instances, Kept{}, now, fx)
	return st
}
