package cluster

import (
	"slices"
)

// Ring assigns monitors to members by rendezvous (highest random weight)
// hashing. It is immutable: a membership change makes a new Ring.
type Ring struct {
	members []string // sorted
	seeds   []uint64 // NameHash of each member
}

// NewRing returns the ring of members (duplicates ignored).
func NewRing(members []string) *Ring {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	r := &Ring{members: ms, seeds: make([]uint64, len(ms))}
	for i, m := range ms {
		r.seeds[i] = NameHash(m)
	}
	return r
}

// Members are the ring's members, sorted.
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Len is how many members the ring has.
func (r *Ring) Len() int { return len(r.members) }

// NameHash is the stable hash of a name that every replica computes alike
// (FNV-1a, 64 bits): scores must agree across processes, so no per-process
// seed.
func NameHash(name string) uint64 {
	// hash/fnv's New64a, inlined: no allocation for a million names.
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// score is member i's weight for the monitor whose NameHash is h: a
// strong mix of both, so that weights of different members are
// independent and each member wins 1/N of the names.
func (r *Ring) score(i int, h uint64) uint64 { return mix(h ^ r.seeds[i]) }

// mix is SplitMix64's finaliser.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Owner returns the index of the member that owns the monitor whose
// NameHash is h, or -1 when the ring is empty.
func (r *Ring) Owner(h uint64) int {
	best, bestScore := -1, uint64(0)
	for i := range r.members {
		if s := r.score(i, h); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// OwnerName returns the member that owns the named monitor, or "" when
// the ring is empty.
func (r *Ring) OwnerName(monitor string) string {
	if i := r.Owner(NameHash(monitor)); i >= 0 {
		return r.members[i]
	}
	return ""
}

// Order returns up to k members in the monitor's order of preference:
// its owner first, then the member that would own it if the owner left,
// and so on. A replica keeps what it must hand over at the second.
func (r *Ring) Order(h uint64, k int) []string {
	k = min(k, len(r.members))
	idx := make([]int, len(r.members))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		sa, sb := r.score(a, h), r.score(b, h)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	out := make([]string, k)
	for i := range k {
		out[i] = r.members[idx[i]]
	}
	return out
}

// Index returns the index of member in the ring, or -1.
func (r *Ring) Index(member string) int {
	i, ok := slices.BinarySearch(r.members, member)
	if !ok {
		return -1
	}
	return i
}
