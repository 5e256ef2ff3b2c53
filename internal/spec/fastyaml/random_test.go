package fastyaml

import (
	"math/rand"
	"strings"
	"testing"
)

// TestRandomDocuments renders random trees in the supported subset with
// randomly chosen layouts (indentation widths, indentless and compact
// sequences, flow collections, comments, blank lines, CRLF) and requires
// Parse to handle every one of them exactly like yaml.v3.
func TestRandomDocuments(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := int64(0); seed < int64(n); seed++ {
		g := &docGen{r: rand.New(rand.NewSource(seed))}
		data := g.document()
		if !check(t, data) {
			t.Fatalf("seed %d: Parse bailed out on a document in the subset:\n%s", seed, data)
		}
	}
}

type docGen struct {
	r *rand.Rand
	b strings.Builder
}

func (g *docGen) document() []byte {
	if g.r.Intn(4) == 0 {
		g.b.WriteString("# header\n\n")
	}
	if g.r.Intn(4) == 0 {
		g.b.WriteString("---\n")
	}
	indent := 0
	if g.r.Intn(5) == 0 {
		indent = 1 + g.r.Intn(3)
	}
	switch g.r.Intn(6) {
	case 0:
		g.pad(indent)
		g.b.WriteString(g.flow(0))
		g.eol()
	case 1:
		g.pad(indent)
		g.b.WriteString(g.scalar(false))
		g.eol()
	case 2, 3:
		g.pad(indent)
		g.seq(indent, 0)
	default:
		g.pad(indent)
		g.mapping(indent, 0)
	}
	if g.r.Intn(5) == 0 {
		g.b.WriteString("...\n")
	}
	s := g.b.String()
	if g.r.Intn(6) == 0 {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	return []byte(s)
}

func (g *docGen) pad(n int) { g.b.WriteString(strings.Repeat(" ", n)) }

// eol ends a line, sometimes with a comment and blank or comment lines.
func (g *docGen) eol() {
	switch g.r.Intn(8) {
	case 0:
		g.b.WriteString(" # note")
	case 1:
		g.b.WriteString("   ")
	}
	g.b.WriteString("\n")
	switch g.r.Intn(10) {
	case 0:
		g.b.WriteString("\n")
	case 1:
		g.pad(g.r.Intn(6))
		g.b.WriteString("# comment line\n")
	}
}

// mapping writes a block mapping whose first key is at the current position
// and whose other keys are at column col.
func (g *docGen) mapping(col, depth int) {
	n := 1 + g.r.Intn(4)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.pad(col)
		}
		g.b.WriteString(g.key())
		g.b.WriteString(":")
		g.value(col, depth+1)
	}
}

// value writes what follows "key:" for a mapping at column col.
func (g *docGen) value(col, depth int) {
	kind := g.r.Intn(10)
	if depth > 4 {
		kind = 0
	}
	switch {
	case kind < 3:
		g.b.WriteString(" ")
		g.b.WriteString(g.scalar(false))
		g.eol()
	case kind == 3:
		g.eol() // empty value
	case kind == 4:
		g.b.WriteString(" ")
		g.b.WriteString(g.flow(depth))
		g.eol()
	case kind < 7:
		g.eol()
		c := col + 1 + g.r.Intn(4)
		g.pad(c)
		g.mapping(c, depth)
	default:
		g.eol()
		c := col + g.r.Intn(4) // col itself: an indentless sequence
		g.pad(c)
		g.seq(c, depth)
	}
}

// seq writes a block sequence whose first dash is at the current position
// and whose other dashes are at column col.
func (g *docGen) seq(col, depth int) {
	n := 1 + g.r.Intn(4)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.pad(col)
		}
		g.b.WriteString("-")
		kind := g.r.Intn(10)
		if depth > 4 {
			kind = 0
		}
		switch {
		case kind < 3:
			g.b.WriteString(" ")
			g.b.WriteString(g.scalar(false))
			g.eol()
		case kind == 3:
			g.eol() // empty item
		case kind == 4:
			g.b.WriteString(" ")
			g.b.WriteString(g.flow(depth))
			g.eol()
		case kind < 7:
			// "- key: value" with the mapping on the dash line.
			sp := 1 + g.r.Intn(3)
			g.pad(sp)
			g.mapping(col+1+sp, depth+1)
		case kind == 7:
			sp := 1 + g.r.Intn(3)
			g.pad(sp)
			g.seq(col+1+sp, depth+1) // "- - item"
		default:
			g.eol()
			c := col + 1 + g.r.Intn(3)
			g.pad(c)
			if g.r.Intn(2) == 0 {
				g.mapping(c, depth+1)
			} else {
				g.seq(c, depth+1)
			}
		}
	}
}

func (g *docGen) flow(depth int) string {
	var b strings.Builder
	n := g.r.Intn(4)
	sep := []string{", ", ",", " , "}[g.r.Intn(3)]
	if g.r.Intn(2) == 0 {
		b.WriteString("[")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(sep)
			}
			if depth < 6 && g.r.Intn(4) == 0 {
				b.WriteString(g.flow(depth + 1))
			} else {
				b.WriteString(g.scalar(true))
			}
		}
		b.WriteString("]")
		return b.String()
	}
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(g.key())
		switch g.r.Intn(6) {
		case 0:
			// no value at all
		case 1:
			b.WriteString(": ")
		default:
			b.WriteString(": ")
			if depth < 6 && g.r.Intn(4) == 0 {
				b.WriteString(g.flow(depth + 1))
			} else {
				b.WriteString(g.scalar(true))
			}
		}
	}
	b.WriteString("}")
	return b.String()
}

var (
	keyWords = []string{"name", "type", "url", "a", "b c", "x-y", "n_1", "1", "true", "~", "é", "k.v", "2001-01-02"}
	plains   = []string{
		"fleet", "60s", "5s", "http", "log", "false", "true", "TRUE", "yes", "null", "~",
		"0", "12", "-7", "+3", "007", "09", "0x1F", "0o17", "0b11", "1_000", "1.5",
		".5", "1e3", ".inf", "-.Inf", ".NaN", "1.2.3", "10.0.0.1", "2001-12-14",
		"2001-12-14 21:59:43.10", "svc-0000001", "a b c", "Bearer x", "日本",
		"-x", "über", "x#y", "a,b",
	}
	blockOnly = []string{"http://10.0.0.1:8080/health", "a:b", "x[y]", "a, b", "z{}", "?q", ":c"}
	quoted    = []string{
		`""`, `"Bearer x"`, `"a # b"`, `"x\ty\n\"q\"\\"`, `"\u00e9\x41"`, `''`,
		`'it''s'`, `'#x'`, `"1"`, `'true'`, `"  spaced  "`,
	}
)

func (g *docGen) key() string {
	if g.r.Intn(8) == 0 {
		return quoted[g.r.Intn(len(quoted))]
	}
	return keyWords[g.r.Intn(len(keyWords))]
}

func (g *docGen) scalar(flow bool) string {
	switch g.r.Intn(6) {
	case 0:
		return quoted[g.r.Intn(len(quoted))]
	case 1:
		if !flow {
			return blockOnly[g.r.Intn(len(blockOnly))]
		}
	}
	return plains[g.r.Intn(len(plains))]
}
