package owner

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// storage is the owner's side of the state directory: it reads the file
// at start, restores it once the first configuration is applied, and
// writes snapshots every interval (encoding and writing off the owner
// goroutine) and at shutdown.
type storage struct {
	dir      string // "" disables
	interval time.Duration
	saved    *state.File // read at start, until restored
	enabled  []byte      // packed name hashes of the enabled monitors, of world version
	version  uint64
	restored bool      // the first configuration is applied: snapshots may be written
	last     time.Time // of the last snapshot taken
	writing  sync.WaitGroup
	busy     bool // a write is running; guarded by mu
	mu       sync.Mutex
}

// loadState reads the state directory, if any; a bad file is set aside
// and logged, never fatal.
func (o *Owner) loadState() {
	s := &o.storage
	s.dir, s.interval = o.cfg.Storage.Path, o.cfg.Storage.Interval
	if s.dir == "" {
		return
	}
	f, err := state.Read(s.dir, state.Shard{Index: o.cfg.Shard.Index, Count: o.cfg.Shard.Count})
	var aside *state.SetAsideError
	switch {
	case errors.As(err, &aside):
		o.log.Error("state file set aside; starting without it", "err", err)
	case err != nil:
		o.log.Error("cannot read the state directory; starting without it", "dir", s.dir, "err", err)
	case f != nil:
		s.saved = f
		o.log.Info("state loaded", "dir", s.dir, "written", f.Written, "monitors", len(f.Monitors),
			"incidents", len(f.Open), "held", len(f.Held), "pending", len(f.Pending))
	}
}

// restore applies the state read at start to the monitors just loaded;
// notifiers are the configuration's, to find held codes' and pending
// codes' destinations. It runs once.
func (o *Owner) restore(notifiers []code.Notifier, now time.Time) {
	f := o.storage.saved
	o.storage.saved, o.storage.restored = nil, true
	if f == nil {
		return
	}
	byDest := map[string]code.Notifier{}
	for _, n := range notifiers {
		byDest[n.Destination()] = n
	}
	// In a cluster, what this replica kept of monitors another one owns
	// now is that one's: neither restored nor resolved here.
	f.Open = slices.DeleteFunc(f.Open, func(oi state.OpenIncident) bool { return o.world.Foreign(oi.Monitor) })
	f.Held = slices.DeleteFunc(f.Held, func(h state.Held) bool { return h.About == "" && o.world.Foreign(h.Subject) })
	restored := map[string]bool{}
	for _, m := range f.Monitors {
		st, err := m.Status()
		if err != nil {
			o.log.Warn("state: monitor not restored", "err", err)
			continue
		}
		if o.world.Restore(m.Name, st, now, &o.fx) {
			restored[m.Name] = true
		}
	}
	if len(f.Enabled) > 0 {
		var gray []string
		o.world.Each(func(m world.Monitor) {
			if !m.Enabled {
				if name := m.Name(); !restored[name] && state.HasHash(f.Enabled, state.NameHash(name)) {
					gray = append(gray, name)
				}
			}
		})
		for _, name := range gray {
			o.world.RestoreDisabled(name, now, &o.fx)
		}
	}
	o.takeChanges()
	o.codePath.Restore(f, byDest, func(name string) bool {
		v, ok := o.world.Lookup(name)
		return ok && v.State.Open()
	}, now)
	for _, p := range f.Pending {
		n, err := p.Notification.Domain()
		to := byDest[p.Destination]
		switch {
		case err != nil:
			o.log.Warn("state: undelivered code not restored", "err", err)
		case to == nil:
			o.log.Warn("state: undelivered code dropped: its destination is no longer configured",
				"monitor", n.Monitor, "code", n.Code.String(), "destination", p.Destination)
		default:
			o.codes.Send(n, []code.Notifier{to})
		}
	}
	o.flushEffects()
	o.codePath.Reconcile(o.world.NotifiersOf, nil, now)
	o.log.Info("state restored", "monitors", len(restored), "incidents", len(f.Open), "held", len(f.Held), "pending", len(f.Pending))
}

// snapshot is the state to write: taken on the owner goroutine.
func (o *Owner) snapshot(now time.Time, pending []code.Undelivered) *state.File {
	f := &state.File{Shard: state.Shard{Index: o.cfg.Shard.Index, Count: o.cfg.Shard.Count}, Written: now.UTC()}
	s := &o.storage
	hash := s.version != o.world.Version() || s.enabled == nil
	var enabled []uint64
	if hash {
		enabled = make([]uint64, 0, o.world.Len())
	}
	o.world.Each(func(m world.Monitor) {
		if hash && m.Enabled {
			enabled = append(enabled, state.NameHash(m.Name()))
		}
		if st := m.Status; st.State.Open() || st.State == incident.Maintenance || st.Interventions > 0 || st.Guarded {
			f.Monitors = append(f.Monitors, state.FromStatus(m.Name(), st))
		}
	})
	if hash {
		// Names and enablement change only with the configuration: hashed
		// and sorted once per configuration, then reused.
		s.enabled, s.version = state.Hashes(enabled), o.world.Version()
	}
	f.Enabled = s.enabled
	o.codePath.Save(f)
	for _, u := range pending {
		f.Pending = append(f.Pending, state.Pending{Destination: u.To.Destination(), First: u.First,
			Attempts: u.Attempts, Notification: state.FromNotification(u.Notification)})
	}
	return f
}

// saveEvery takes a snapshot once an interval has passed and writes it in
// the background; a write still running skips this one.
func (o *Owner) saveEvery(now time.Time) {
	s := &o.storage
	if s.dir == "" || !s.restored || now.Sub(s.last) < s.interval {
		return // disabled, or no configuration applied yet
	}
	s.mu.Lock()
	busy := s.busy
	s.busy = true
	s.mu.Unlock()
	if busy {
		return
	}
	s.last = now
	start := time.Now()
	f := o.snapshot(now, o.codes.Pending())
	s.writing.Add(1)
	go func() {
		defer s.writing.Done()
		o.write(f, start)
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()
}

// saveFinal writes the state at shutdown, with what the dispatcher could
// not deliver, after any write in progress.
func (o *Owner) saveFinal(undelivered []code.Undelivered) {
	s := &o.storage
	s.writing.Wait()
	if s.dir == "" || !s.restored {
		return // no configuration was applied: the file stays as it is
	}
	start := time.Now()
	f := o.snapshot(start, undelivered)
	if o.write(f, start) && len(undelivered) > 0 {
		o.log.Warn("codes not delivered before shutdown saved for the next start", "count", len(undelivered), "dir", s.dir)
	}
}

// write writes f and records how it went.
func (o *Owner) write(f *state.File, start time.Time) bool {
	size, err := state.Write(o.storage.dir, f)
	if err != nil {
		o.m.StateWrites.WithLabelValues("failure").Inc()
		o.log.Error("cannot write the state; the previous file stays", "dir", o.storage.dir, "err", err)
		return false
	}
	o.m.StateWrites.WithLabelValues("success").Inc()
	o.m.StateBytes.Set(float64(size))
	o.m.StateWriteDuration.Set(time.Since(start).Seconds())
	o.m.StateLastWrite.Set(float64(time.Now().UnixNano()) / 1e9)
	return true
}
