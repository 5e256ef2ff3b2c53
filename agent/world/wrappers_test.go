package world

import (
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// The tests' short forms of ApplyKept and Offer.

// Apply makes the world match ms: new monitors are added, removed ones
// deleted (with gray when an incident was open), changed ones updated in
// place keeping their state, unchanged ones left alone.
func (w *World) Apply(ms []config.Monitor, now time.Time, fx *Effects) ApplyStats {
	st, _ := w.ApplyKept(ms, Kept{}, now, fx)
	return st
}

// Due is Offer where submit accepts or refuses: it reports whether the
// walk stopped early.
func (w *World) Due(now time.Time, submit func(CheckJob) bool) bool {
	return w.Offer(now, func(j CheckJob) Offer {
		if submit(j) {
			return Accepted
		}
		return Refused
	})
}
