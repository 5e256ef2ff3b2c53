package world

import "unsafe"

// textArena holds every monitor's name and address, back to back, in large
// byte chunks. A monitor keeps a 32-bit reference instead of two string
// headers, so its row holds no pointer and the garbage collector has a few
// dozen chunks to mark instead of two million small strings.
//
// Bytes once written are never changed: a string handed out (to a job, a
// code, a log line) points into a chunk and stays valid for as long as it is
// used, even after compact has moved the arena on to new chunks. Text of
// removed or changed monitors is garbage until the next compact.
type textArena struct {
	chunks  [][]byte
	used    int // bytes written
	garbage int // bytes no live monitor refers to
}

const (
	// A reference is a chunk number and an offset in it, packed in 32 bits:
	// 12 bits of chunk, 20 of offset. A text that does not fit in what is
	// left of the last chunk starts a new one (sized to it if it is larger
	// than a chunk), so every text starts below 1 MiB in its chunk.
	chunkBits  = 20
	chunkSize  = 1 << chunkBits
	maxChunks  = 1 << (32 - chunkBits)
	offsetMask = chunkSize - 1
)

// add appends name and address and returns where they start.
func (a *textArena) add(name, address string) uint32 {
	n := len(name) + len(address)
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > chunkSize {
		if len(a.chunks) == maxChunks {
			// 4 GiB of text: only reachable with garbage, since no fleet
			// has that much live text. Compacting frees the garbage.
			panic("world: monitor text arena full")
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(chunkSize, n)))
		last++
	}
	c := a.chunks[last]
	ref := uint32(last)<<chunkBits | uint32(len(c))
	c = append(c, name...)
	c = append(c, address...)
	a.chunks[last] = c
	a.used += n
	return ref
}

// text returns n bytes at ref+skip as a string that shares the arena's memory.
func (a *textArena) text(ref uint32, skip, n uint32) string {
	if n == 0 {
		return ""
	}
	c := a.chunks[ref>>chunkBits]
	start := ref&offsetMask + skip
	return unsafe.String(&c[start], int(n))
}

// free marks n bytes as garbage.
func (a *textArena) free(n int) { a.garbage += n }

// wasteful reports whether compacting would pay: more garbage than live text,
// and at least a chunk of it.
func (a *textArena) wasteful() bool {
	return a.garbage > chunkSize && a.garbage > a.used-a.garbage
}
