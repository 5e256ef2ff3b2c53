package spec

import (
	"hash/maphash"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Key identifies a configuration by content: two blocks that mean the same
// configuration (whatever their key order, quoting or anchors) have the same
// Key. It is 128 bits, so distinct configurations never collide in practice.
// Keys are only comparable within one process.
type Key [16]byte

var seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// Fingerprint is an incremental Key builder. The zero value is not ready:
// use NewFingerprint.
type Fingerprint struct{ h [2]maphash.Hash }

// NewFingerprint returns an empty fingerprint.
func NewFingerprint() *Fingerprint {
	f := &Fingerprint{}
	f.h[0].SetSeed(seeds[0])
	f.h[1].SetSeed(seeds[1])
	return f
}

// String adds a length-prefixed string, so ("ab","c") differs from ("a","bc").
func (f *Fingerprint) String(s string) *Fingerprint {
	n := uint64(len(s))
	for i := range f.h {
		for v := n; ; v >>= 7 {
			if v < 0x80 {
				f.h[i].WriteByte(byte(v))
				break
			}
			f.h[i].WriteByte(byte(v) | 0x80)
		}
		f.h[i].WriteString(s)
	}
	return f
}

func (f *Fingerprint) tag(b byte) {
	f.h[0].WriteByte(b)
	f.h[1].WriteByte(b)
}

// Node adds the canonical form of node: mapping keys sorted, aliases
// resolved, scalars by resolved tag and value, and the top-level keys in
// skip left out.
func (f *Fingerprint) Node(node *yaml.Node, skip ...string) *Fingerprint {
	f.node(node, skip)
	return f
}

// Key returns the 128-bit key of everything added so far.
func (f *Fingerprint) Key() Key {
	var k Key
	a, b := f.h[0].Sum64(), f.h[1].Sum64()
	for i := range 8 {
		k[i] = byte(a >> (8 * i))
		k[8+i] = byte(b >> (8 * i))
	}
	return k
}

// Sum64 returns 64 bits of the key, for a cheap change fingerprint.
func (f *Fingerprint) Sum64() uint64 { return f.h[0].Sum64() }

func (f *Fingerprint) node(n *yaml.Node, skip []string) {
	n = ResolveAlias(n)
	if n == nil {
		f.tag('~')
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			f.node(c, skip)
		}
	case yaml.MappingNode:
		// Mapping keys are few: sort indexes rather than copy pairs.
		idx := make([]int, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !slices.Contains(skip, n.Content[i].Value) {
				idx = append(idx, i)
			}
		}
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(n.Content[a].Value, n.Content[b].Value) })
		f.tag('{')
		for _, i := range idx {
			f.String(n.Content[i].Value)
			f.node(n.Content[i+1], nil)
		}
		f.tag('}')
	case yaml.SequenceNode:
		f.tag('[')
		for _, c := range n.Content {
			f.node(c, nil)
		}
		f.tag(']')
	default:
		f.String(n.ShortTag())
		f.String(n.Value)
	}
}
