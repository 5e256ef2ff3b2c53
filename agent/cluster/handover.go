package cluster

import (
	"encoding/json"
	"sync"

	"github.com/cpra-agent/cpra-agent/agent/state"
)

// Incidents follow the monitor. Every replica sends, every few seconds,
// the incident state of the monitors it owns to each monitor's next owner
// in ring order (Ring.Order): the member that takes the monitor over if
// this one goes. A member keeps what each peer sent it (Standby) and takes
// it up when the ring gives it those monitors: after a SIGKILL it has the
// state of at most one replication interval before; after a SIGTERM, the
// leaving replica sends once more before it goes.

// handoverMsg is one replica's incident state for one peer: the whole set
// that peer would take over from it, replacing the last one sent.
type handoverMsg struct {
	From string      `json:"from"`
	File *state.File `json:"file"`
}

// EncodeHandover is the message carrying f from the member from.
func EncodeHandover(from string, f *state.File) ([]byte, error) {
	return json.Marshal(handoverMsg{From: from, File: f})
}

// Standby keeps what the peers handed over, by sender.
type Standby struct {
	mu   sync.Mutex
	from map[string]*state.File
}

// NewStandby returns an empty store.
func NewStandby() *Standby { return &Standby{from: map[string]*state.File{}} }

// Receive stores a handover message, replacing what its sender sent
// before. A message that does not decode is reported and dropped.
func (s *Standby) Receive(msg []byte) error {
	var m handoverMsg
	if err := json.Unmarshal(msg, &m); err != nil {
		return err
	}
	if m.File == nil {
		m.File = &state.File{}
	}
	s.mu.Lock()
	s.from[m.From] = m.File
	s.mu.Unlock()
	return nil
}

// All merges what every peer handed over.
func (s *Standby) All() *state.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &state.File{}
	for _, f := range s.from {
		out.Monitors = append(out.Monitors, f.Monitors...)
		out.Open = append(out.Open, f.Open...)
		out.Held = append(out.Held, f.Held...)
	}
	return out
}

// Forget drops what any peer handed over of the named monitors, once
// taken up: a stale copy must not come back at a later takeover.
func (s *Standby) Forget(names []string) {
	if len(names) == 0 {
		return
	}
	gone := map[string]bool{}
	for _, n := range names {
		gone[n] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.from {
		f.Monitors = deleteFunc(f.Monitors, func(m state.Monitor) bool { return gone[m.Name] })
		f.Open = deleteFunc(f.Open, func(o state.OpenIncident) bool { return gone[o.Monitor] })
		f.Held = deleteFunc(f.Held, func(h state.Held) bool { return gone[h.Subject] })
	}
}

func deleteFunc[T any](s []T, del func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}

// Split divides f by the member each monitor would go to on ring r
// (next, a member's monitors' successor): every member of r but self gets
// an entry, empty when none of f goes there, so its last copy is replaced.
func Split(f *state.File, r *Ring, self string, next func(monitor string) string) map[string]*state.File {
	out := map[string]*state.File{}
	for _, m := range r.Members() {
		if m != self {
			out[m] = &state.File{}
		}
	}
	to := func(name string) *state.File { return out[next(name)] }
	for _, m := range f.Monitors {
		if t := to(m.Name); t != nil {
			t.Monitors = append(t.Monitors, m)
		}
	}
	for _, o := range f.Open {
		if t := to(o.Monitor); t != nil {
			t.Open = append(t.Open, o)
		}
	}
	for _, h := range f.Held {
		if t := to(h.Subject); t != nil {
			t.Held = append(t.Held, h)
		}
	}
	return out
}

// Successor is the member that takes a monitor over from self if self
// goes: the second in the monitor's order on r (self being first).
func Successor(r *Ring, self string) func(monitor string) string {
	return func(monitor string) string {
		order := r.Order(NameHash(monitor), 2)
		for _, m := range order {
			if m != self {
				return m
			}
		}
		return ""
	}
}
