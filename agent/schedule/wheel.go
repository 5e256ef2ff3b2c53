package schedule

import (
	"fmt"
	"math/bits"
	"time"
)

// Entry is one scheduled visit.
type Entry[ID any] struct {
	ID  ID
	Due int64 // unix nanoseconds
}

// Wheel is a hashed timing wheel. It is not safe for concurrent use; one
// owner goroutine drives it.
type Wheel[ID any] struct {
	tick   int64 // slot width in nanoseconds
	mask   int64
	slots  [][]Entry[ID]
	cursor int64 // next tick to visit
	size   int
}

// New returns a wheel with the given slot width and at least minSlots slots
// (rounded up to a power of two), whose first tick is start. Intervals up to
// tick×slots are found in one turn; longer ones wait extra turns.
func New[ID any](start time.Time, tick time.Duration, minSlots int) (*Wheel[ID], error) {
	if tick <= 0 {
		return nil, fmt.Errorf("schedule: tick must be positive, got %v", tick)
	}
	if minSlots < 1 {
		return nil, fmt.Errorf("schedule: need at least one slot, got %d", minSlots)
	}
	n := 1 << bits.Len(uint(minSlots-1))
	return &Wheel[ID]{
		tick:   int64(tick),
		mask:   int64(n - 1),
		slots:  make([][]Entry[ID], n),
		cursor: start.UnixNano() / int64(tick),
	}, nil
}

// Len is the number of entries held, stale ones included.
func (w *Wheel[ID]) Len() int { return w.size }

// Add schedules id at due (unix nanoseconds). A due time in the past is
// placed at the cursor so the next Advance finds it.
func (w *Wheel[ID]) Add(id ID, due int64) {
	t := due / w.tick
	if t < w.cursor {
		t = w.cursor
	}
	s := &w.slots[t&w.mask]
	*s = append(*s, Entry[ID]{ID: id, Due: due})
	w.size++
}

// Advance visits every slot up to now and calls fire for each entry whose
// due time is at or before now. fire returns false to stop early (the
// pipeline is full): that entry and the rest stay in place, still due, and
// the next Advance resumes there. Advance reports whether it stopped early.
func (w *Wheel[ID]) Advance(now int64, fire func(Entry[ID]) bool) (stopped bool) {
	last := now / w.tick
	if last < w.cursor {
		// The clock went back (ticker times are not monotonic under load,
		// and wall clocks step): nothing new is due, but entries of the
		// current slot may be.
		last = w.cursor
	}
	// Visiting more than one full turn would revisit slots: cap it.
	if last-w.cursor > w.mask {
		w.cursor = last - w.mask
	}
	for {
		if !w.visit(w.cursor&w.mask, now, fire) {
			return true
		}
		// The slot of the current tick may still hold entries due later
		// within this tick: stay on it so the next Advance sees them.
		if w.cursor == last {
			break
		}
		w.cursor++
	}
	return false
}

// visit fires the due entries of one slot. It returns false when fire asked
// to stop; the entries not yet fired stay in the slot.
func (w *Wheel[ID]) visit(slot int64, now int64, fire func(Entry[ID]) bool) bool {
	s := &w.slots[slot]
	entries := *s
	kept := entries[:0]
	ok := true
	for i, e := range entries {
		if e.Due > now {
			kept = append(kept, e) // a later turn, or later within this tick
			continue
		}
		if !fire(e) {
			kept = append(kept, entries[i:]...)
			ok = false
			break
		}
	}
	w.size -= len(entries) - len(kept)
	*s = shrink(kept)
	return ok
}

// shrink releases a slot's backing array once it is mostly empty, so a burst
// does not pin memory forever.
func shrink[E any](s []E) []E {
	if len(s) == 0 {
		if cap(s) > 64 {
			return nil
		}
		return s[:0]
	}
	if cap(s) > 256 && len(s) < cap(s)/4 {
		return append(make([]E, 0, len(s)*2), s...)
	}
	return s
}
