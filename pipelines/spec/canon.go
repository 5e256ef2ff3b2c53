package spec

import (
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Canonical returns a deterministic text form of node with mapping keys
// sorted and the top-level keys in skip left out. Two blocks that mean the
// same configuration have the same canonical form, which is how instances
// of a kind are shared between monitors.
func Canonical(node *yaml.Node, skip ...string) string {
	var b strings.Builder
	writeCanonical(&b, node, skip)
	return b.String()
}

func writeCanonical(b *strings.Builder, n *yaml.Node, skip []string) {
	n = resolveAlias(n)
	if n == nil {
		b.WriteString("~")
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			writeCanonical(b, c, skip)
		}
	case yaml.MappingNode:
		type pair struct{ k, v *yaml.Node }
		pairs := make([]pair, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if slices.Contains(skip, n.Content[i].Value) {
				continue
			}
			pairs = append(pairs, pair{n.Content[i], n.Content[i+1]})
		}
		slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.k.Value, b.k.Value) })
		b.WriteByte('{')
		for _, p := range pairs {
			b.WriteString(strconv.Quote(p.k.Value))
			b.WriteByte(':')
			writeCanonical(b, p.v, nil)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for _, c := range n.Content {
			writeCanonical(b, c, nil)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	default:
		b.WriteString(n.ShortTag())
		b.WriteString(strconv.Quote(n.Value))
	}
}
