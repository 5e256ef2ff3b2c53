package world

import (
	"hash/maphash"

	"github.com/mlange-42/ark/ecs"
)

// nameIndex finds a monitor's entity by name. It is an open-addressing hash
// table with linear probing that stores only a 32-bit hash tag and the
// entity (12 bytes a slot, no pointers, at most 3/4 full): the names
// themselves stay in the text arena, and a lookup whose tag matches compares
// the name through nameOf. A Go map[string]ecs.Entity would cost 50 bytes a
// monitor at a million and hold a string pointer per entry for the garbage
// collector to trace.
type nameIndex struct {
	slots []nameSlot
	n     int
	seed  maphash.Seed
}

type nameSlot struct {
	tag uint32 // 0: empty
	e   ecs.Entity
}

// nameOf returns the name of a monitor in the index.
type nameOf func(ecs.Entity) string

func newNameIndex(capacity int) nameIndex {
	x := nameIndex{seed: maphash.MakeSeed()}
	x.reserve(capacity)
	return x
}

func (x *nameIndex) len() int { return x.n }

func (x *nameIndex) tag(name string) uint32 {
	return uint32(maphash.String(x.seed, name)) | 1 // never 0, the empty tag
}

// home is a tag's first slot: the tag scaled to the table's length, so the
// table need not be a power of two and growing needs no names.
func (x *nameIndex) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(x.slots)) >> 32)
}

func (x *nameIndex) next(i int) int {
	if i++; i == len(x.slots) {
		return 0
	}
	return i
}

// find returns the slot holding name, or the empty slot where it would go.
func (x *nameIndex) find(name string, tag uint32, of nameOf) (int, bool) {
	for i := x.home(tag); ; i = x.next(i) {
		s := x.slots[i]
		if s.tag == 0 {
			return i, false
		}
		if s.tag == tag && of(s.e) == name {
			return i, true
		}
	}
}

// get returns the entity named name.
func (x *nameIndex) get(name string, of nameOf) (ecs.Entity, bool) {
	if x.n == 0 {
		return ecs.Entity{}, false
	}
	i, ok := x.find(name, x.tag(name), of)
	return x.slots[i].e, ok
}

// put maps name to e, replacing what it mapped to.
func (x *nameIndex) put(name string, e ecs.Entity, of nameOf) {
	x.reserve(x.n + 1)
	tag := x.tag(name)
	i, ok := x.find(name, tag, of)
	if !ok {
		x.n++
	}
	x.slots[i] = nameSlot{tag: tag, e: e}
}

// del removes name and reports whether it was there. The entries after it
// in its run shift back into the hole, so there are no tombstones.
func (x *nameIndex) del(name string, of nameOf) bool {
	if x.n == 0 {
		return false
	}
	hole, ok := x.find(name, x.tag(name), of)
	if !ok {
		return false
	}
	x.n--
	for j := x.next(hole); x.slots[j].tag != 0; j = x.next(j) {
		// The entry at j may move back to the hole unless its home lies
		// cyclically after the hole and at or before j.
		h := x.home(x.slots[j].tag)
		if hole <= j {
			if hole < h && h <= j {
				continue
			}
		} else if hole < h || h <= j {
			continue
		}
		x.slots[hole] = x.slots[j]
		hole = j
	}
	x.slots[hole] = nameSlot{}
	return true
}

// each calls f with every entity.
func (x *nameIndex) each(f func(ecs.Entity)) {
	for _, s := range x.slots {
		if s.tag != 0 {
			f(s.e)
		}
	}
}

// reserve makes room for n entries at most 3/4 full.
func (x *nameIndex) reserve(n int) {
	if want := max(n+n/3+1, 8); len(x.slots) < want {
		x.rebuild(max(want, len(x.slots)*3/2)) // grow geometrically
	}
}

// shrink rebuilds a table more than eight times larger than its entries
// need (the fleet shrank), so it never holds much more than it needs.
func (x *nameIndex) shrink() {
	if want := max(x.n+x.n/3+1, 8); len(x.slots) > 8*want {
		x.rebuild(want)
	}
}

// rebuild moves every entry into a table of size slots.
func (x *nameIndex) rebuild(size int) {
	old := x.slots
	x.slots = make([]nameSlot, size)
	for _, s := range old {
		if s.tag == 0 {
			continue
		}
		i := x.home(s.tag)
		for x.slots[i].tag != 0 {
			i = x.next(i)
		}
		x.slots[i] = s
	}
}
