package world

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// hostIndex finds the monitors of one host without walking every monitor:
// each monitor's entity under the hash of its host, sorted by hash. It is
// built when a host breaker first opens after a configuration change (a
// walk of every monitor, once), so a partition that opens a thousand
// breakers costs one walk and a thousand binary searches on the owner's
// goroutine, not a thousand walks. 16 bytes a monitor, and only once a
// breaker has opened.
type hostIndex struct {
	built   bool
	version uint64 // of the world it was built for
	entries []hostEntry
}

type hostEntry struct {
	hash uint64
	e    ecs.Entity
}

var hostSeed = maphash.MakeSeed()

// build indexes every monitor of w by the host of its address
// (pulse.HostOf, which keys the host breakers).
func (x *hostIndex) build(w *World) {
	x.entries = x.entries[:0]
	q := w.all.Query() // storage order: a sequential walk of the columns
	for q.Next() {
		id, _ := q.Get()
		if h := pulse.HostOf(w.address(id)); h != "" {
			x.entries = append(x.entries, hostEntry{maphash.String(hostSeed, h), q.Entity()})
		}
	}
	slices.SortFunc(x.entries, func(a, b hostEntry) int { return cmp.Compare(a.hash, b.hash) })
	x.built, x.version = true, w.version
}

// HostMonitors counts the enabled monitors whose address is on host
// (pulse.HostOf) and
// returns the notifiers their red codes go to, each once. It costs a
// binary search and the host's own monitors, after a walk of every monitor
// at the first call for each configuration (see hostIndex).
func (w *World) HostMonitors(host string) (n int, notifiers []code.Notifier) {
	x := &w.hosts
	if !x.built || x.version != w.version {
		x.build(w)
	}
	h := maphash.String(hostSeed, host)
	i, _ := slices.BinarySearchFunc(x.entries, h, func(en hostEntry, h uint64) int { return cmp.Compare(en.hash, h) })
	var seen map[code.Notifier]bool
	for ; i < len(x.entries) && x.entries[i].hash == h; i++ {
		e := x.entries[i].e
		if !w.ecs.Alive(e) {
			continue
		}
		id, _ := w.monitors.Get(e)
		p := w.profile(id)
		if !p.Enabled || pulse.HostOf(w.address(id)) != host { // a hash collision, or disabled
			continue
		}
		n++
		for _, t := range p.Routes.Notifiers(domain.Red) {
			if seen == nil {
				seen = map[code.Notifier]bool{}
			}
			if !seen[t] {
				seen[t] = true
				notifiers = append(notifiers, t)
			}
		}
	}
	return n, notifiers
}
