package fastyaml

import (
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits that keep us well inside yaml.v3's own: it rejects implicit keys
// whose ':' is more than 1024 characters after the key start, and nesting
// deeper than 10000.
const (
	maxKeySpan = 1000
	maxDepth   = 1000
)

// maxChunk caps node slabs at 4096 nodes (~600 KB); larger ones measured
// slower.
const maxChunk = 4096

// Parse parses data into the same DocumentNode tree that yaml.Unmarshal into
// a yaml.Node produces, comments aside. It returns (nil, false) when data
// uses anything outside the supported subset (see the package comment); the
// caller must then fall back to yaml.v3.
func Parse(data []byte) (*yaml.Node, bool) {
	// Size the first node slab from the input (~8 bytes per node in
	// generated files, so this usually fits) to keep small inputs cheap.
	p := parser{
		src:   string(data),
		chunk: min(len(data)/6+4, maxChunk),
		stack: make([]*yaml.Node, 0, 32),
	}
	return p.document()
}

// Parser parses many documents in turn, reusing its node memory: loading a
// million monitors one chunk at a time then allocates almost nothing. The
// tree a Parse returns is valid only until the next Parse on the same
// Parser. A Parser is not safe for concurrent use; the zero value is ready.
type Parser struct {
	nodes []yaml.Node
	ptrs  []*yaml.Node
	stack []*yaml.Node
}

// Parse is the package-level Parse with reused memory.
func (r *Parser) Parse(data []byte) (*yaml.Node, bool) {
	p := parser{
		src:   string(data),
		chunk: min(len(data)/6+4, maxChunk),
		stack: r.stack[:0],
		nodes: r.nodes[:0],
		ptrs:  r.ptrs[:0],
	}
	if p.stack == nil {
		p.stack = make([]*yaml.Node, 0, 32)
	}
	doc, ok := p.document()
	// Keep the current slabs; earlier ones of a large document go to the GC.
	r.nodes, r.ptrs, r.stack = p.nodes, p.ptrs, p.stack
	return doc, ok
}

type parser struct {
	src  string // the whole input; node values are substrings of it
	next int    // offset of the line after the current one

	// The current significant (non-blank, non-comment) line.
	s     string // its text without the line break
	line  int    // its 1-based number
	ind   int    // byte index of its first non-space; -1 at the end of the document
	ascii bool   // whether s is pure ASCII (columns are then byte offsets)

	// Rune count of s[:runeAt], so that columns on long non-ASCII lines
	// are counted incrementally rather than from the line start each time.
	runeAt, runes int

	started  bool // a significant line has been seen
	docStart int  // line of an explicit "---", or 0
	ended    bool // saw "..."

	depth int

	// Slab allocation: nodes and Content slices are carved from chunks.
	chunk int
	nodes []yaml.Node
	ptrs  []*yaml.Node
	stack []*yaml.Node // children of the collections being built
}

func (p *parser) document() (*yaml.Node, bool) {
	if !p.nextLine() || p.ind < 0 {
		return nil, false // empty documents are rare; let yaml.v3 decide
	}
	root, ok := p.node(p.ind)
	if !ok || p.ind >= 0 {
		return nil, false // trailing content, e.g. a second root node
	}
	doc := p.newNode(yaml.DocumentNode, "", "", root.Line, root.Column)
	if p.docStart > 0 {
		doc.Line, doc.Column = p.docStart, 1
	}
	doc.Content = append(p.alloc(1), root)
	return doc, true
}

// nextLine advances to the next significant line, skipping blank and
// comment-only lines and handling "---" and "...". It returns false if the
// input must be left to yaml.v3.
func (p *parser) nextLine() bool {
	for {
		if p.next >= len(p.src) {
			p.ind = -1
			return true
		}
		start := p.next
		s := p.src[start:]
		if e := strings.IndexByte(s, '\n'); e >= 0 {
			s = s[:e]
			p.next = start + e + 1
		} else {
			p.next = len(p.src)
		}
		p.line++
		if n := len(s); n > 0 && s[n-1] == '\r' {
			s = s[:n-1] // CRLF is one line break for yaml.v3 too
		}
		ascii, ok := checkLine(s)
		if !ok {
			return false
		}
		i := skipSpaces(s, 0)
		if i == len(s) || s[i] == '#' {
			continue
		}
		if p.ended {
			return false // content after "...": another document
		}
		if i == 0 && len(s) >= 3 && (s[:3] == "---" || s[:3] == "...") && (len(s) == 3 || s[3] == ' ') {
			if j := skipSpaces(s, 3); j < len(s) && s[j] != '#' {
				return false // "--- value" and friends
			}
			if s[0] == '.' {
				if !p.started {
					return false
				}
				p.ended = true
				continue
			}
			if p.started || p.docStart > 0 {
				return false // second document
			}
			p.docStart = p.line
			continue
		}
		p.started = true
		p.s, p.ind, p.ascii = s, i, ascii
		p.runeAt, p.runes = 0, 0
		return true
	}
}

// checkLine rejects characters yaml.v3 treats specially or refuses: tabs,
// control characters, lone CRs, invalid UTF-8, the BOM and the Unicode
// line breaks NEL, LS and PS. It reports whether s is pure ASCII.
func checkLine(s string) (ascii, ok bool) {
	ascii = true
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < 0x80 {
			return false, false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false, false
		}
		switch {
		case r == 0x2028 || r == 0x2029 || r == 0xFEFF:
			return false, false
		case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false, false
		}
		ascii = false
		i += size
	}
	return ascii, true
}

// col returns the 1-based column of byte i of the current line; yaml.v3
// counts characters, not bytes.
func (p *parser) col(i int) int {
	if p.ascii {
		return i + 1
	}
	if i < p.runeAt {
		p.runeAt, p.runes = 0, 0
	}
	p.runes += utf8.RuneCountInString(p.s[p.runeAt:i])
	p.runeAt = i
	return p.runes + 1
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// isDash reports whether a block sequence entry "-" starts at byte i.
func isDash(s string, i int) bool {
	return s[i] == '-' && (i+1 == len(s) || s[i+1] == ' ')
}

// endsLine reports whether only spaces and a comment follow byte i.
func endsLine(s string, i int) bool {
	i = skipSpaces(s, i)
	return i == len(s) || s[i] == '#'
}

// node parses the block node starting at byte i of the current line and
// leaves the parser on the first significant line after it.
func (p *parser) node(i int) (*yaml.Node, bool) {
	if p.depth++; p.depth > maxDepth {
		return nil, false
	}
	defer func() { p.depth-- }()

	s := p.s
	if isDash(s, i) {
		return p.blockSeq(i, false)
	}
	n, j, ok := p.inline(i, false)
	if !ok {
		return nil, false
	}
	j = skipSpaces(s, j)
	if j < len(s) && s[j] == ':' {
		if n.Kind != yaml.ScalarNode || j-i > maxKeySpan || (j+1 < len(s) && s[j+1] != ' ') {
			return nil, false // complex key, overlong key, or `"a":b`
		}
		return p.blockMap(i, n, j)
	}
	if !endsLine(s, j) {
		return nil, false
	}
	return n, p.nextLine()
}

// blockMap parses a block mapping whose keys are at byte (= column) i and
// whose first key, already parsed, ends with the ':' at byte colon.
func (p *parser) blockMap(i int, key *yaml.Node, colon int) (*yaml.Node, bool) {
	m := p.newNode(yaml.MappingNode, mapTag, "", key.Line, key.Column)
	base := len(p.stack)
	for {
		v, ok := p.mapValue(i, colon)
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, key, v)
		if p.ind < i {
			break
		}
		if p.ind > i || isDash(p.s, i) {
			return nil, false // continuation line or misplaced entry
		}
		var j int
		key, j, ok = p.inline(i, false)
		if !ok || key.Kind != yaml.ScalarNode {
			return nil, false
		}
		colon = skipSpaces(p.s, j)
		if colon == len(p.s) || p.s[colon] != ':' || colon-i > maxKeySpan ||
			(colon+1 < len(p.s) && p.s[colon+1] != ' ') {
			return nil, false
		}
	}
	m.Content = p.collect(base)
	return m, true
}

// mapValue parses the value after the ':' at byte colon of a mapping at
// column i.
func (p *parser) mapValue(i, colon int) (*yaml.Node, bool) {
	s := p.s
	j := skipSpaces(s, colon+1)
	if j < len(s) && s[j] != '#' {
		// Only scalars and flow collections may share the key's line.
		if isDash(s, j) {
			return nil, false
		}
		v, k, ok := p.inline(j, false)
		if !ok || !endsLine(s, k) {
			return nil, false
		}
		return v, p.nextLine()
	}
	// An empty value sits right after the ':', where yaml.v3 puts it.
	line, column := p.line, p.col(colon+1)
	if !p.nextLine() {
		return nil, false
	}
	if p.ind > i {
		return p.node(p.ind)
	}
	if p.ind == i && isDash(p.s, i) {
		return p.blockSeq(i, true) // a sequence not indented past its key
	}
	return p.newNode(yaml.ScalarNode, nullTag, "", line, column), true
}

// blockSeq parses a block sequence whose dashes are at byte (= column) i.
// An indentless sequence (the value of a key at the same column) ends at the
// first line without a dash; any other one must end by dedenting.
func (p *parser) blockSeq(i int, indentless bool) (*yaml.Node, bool) {
	seq := p.newNode(yaml.SequenceNode, seqTag, "", p.line, p.col(i))
	base := len(p.stack)
	for {
		var item *yaml.Node
		var ok bool
		if j := skipSpaces(p.s, i+1); j < len(p.s) && p.s[j] != '#' {
			item, ok = p.node(j) // "- value", "- key: value", "- - item"
		} else {
			line, column := p.line, p.col(i+1)
			if !p.nextLine() {
				return nil, false
			}
			if p.ind > i {
				item, ok = p.node(p.ind)
			} else {
				item, ok = p.newNode(yaml.ScalarNode, nullTag, "", line, column), true
			}
		}
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, item)
		if p.ind < i {
			break
		}
		if p.ind > i {
			return nil, false
		}
		if !isDash(p.s, i) {
			if indentless {
				break
			}
			return nil, false
		}
	}
	seq.Content = p.collect(base)
	return seq, true
}

// inline parses a scalar or a single-line flow collection at byte i of the
// current line and returns the byte after it.
func (p *parser) inline(i int, flow bool) (*yaml.Node, int, bool) {
	s := p.s
	switch c := s[i]; c {
	case '"', '\'':
		var v string
		var j int
		var ok bool
		style := yaml.DoubleQuotedStyle
		if c == '"' {
			v, j, ok = doubleQuoted(s, i)
		} else {
			v, j, ok = singleQuoted(s, i)
			style = yaml.SingleQuotedStyle
		}
		if !ok {
			return nil, 0, false
		}
		n := p.newNode(yaml.ScalarNode, strTag, v, p.line, p.col(i))
		n.Style = style
		return n, j, true
	case '[', '{':
		if p.depth++; p.depth > maxDepth {
			return nil, 0, false
		}
		defer func() { p.depth-- }()
		if c == '[' {
			return p.flowSeq(i)
		}
		return p.flowMap(i)
	}
	if !plainStart(s, i, flow) {
		return nil, 0, false
	}
	end, j := plainEnd(s, i, flow)
	v := s[i:end]
	if v == "<<" {
		return nil, 0, false // merge key
	}
	return p.newNode(yaml.ScalarNode, resolveTag(v), v, p.line, p.col(i)), j, true
}

// plainStart reports whether a plain scalar may start at byte i, following
// the token dispatch in yaml.v3's scannerc.go.
func plainStart(s string, i int, flow bool) bool {
	c := s[i]
	switch c {
	case '-':
		return i+1 < len(s) && s[i+1] != ' '
	case '?', ':':
		return !flow && i+1 < len(s) && s[i+1] != ' '
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// plainEnd finds the end of the plain scalar starting at byte i, as
// yaml_parser_scan_plain_scalar does within one line: it stops at ": ",
// a ':' ending the line, " #", and in flow context at ",?[]{}". Inner
// spaces belong to the scalar, trailing ones do not. It returns the end of
// the value and the byte where scanning stopped.
func plainEnd(s string, i int, flow bool) (end, stop int) {
	end = i
	for {
		if i < len(s) && s[i] == '#' {
			return end, i // only reachable after a space
		}
		for i < len(s) && s[i] != ' ' {
			c := s[i]
			if c == ':' && (i+1 == len(s) || s[i+1] == ' ') {
				return end, i
			}
			if flow && (c == ',' || c == '?' || c == '[' || c == ']' || c == '{' || c == '}') {
				return end, i
			}
			i++
			end = i
		}
		i = skipSpaces(s, i)
		if i == len(s) {
			return end, i
		}
	}
}

// flowSeq parses a flow sequence that opens at byte i and closes on the same line.
func (p *parser) flowSeq(i int) (*yaml.Node, int, bool) {
	s := p.s
	n := p.newNode(yaml.SequenceNode, seqTag, "", p.line, p.col(i))
	n.Style = yaml.FlowStyle
	base := len(p.stack)
	j := skipSpaces(s, i+1)
	for {
		if j == len(s) {
			return nil, 0, false // continues on the next line
		}
		if s[j] == ']' {
			j++
			break
		}
		item, k, ok := p.inline(j, true)
		if !ok {
			return nil, 0, false
		}
		p.stack = append(p.stack, item)
		k = skipSpaces(s, k)
		if k == len(s) {
			return nil, 0, false
		}
		if s[k] == ']' {
			j = k + 1
			break
		}
		if s[k] != ',' {
			return nil, 0, false // includes "[a: b]" single-pair mappings
		}
		j = skipSpaces(s, k+1)
	}
	n.Content = p.collect(base)
	return n, j, true
}

// flowMap parses a flow mapping that opens at byte i and closes on the same line.
func (p *parser) flowMap(i int) (*yaml.Node, int, bool) {
	s := p.s
	m := p.newNode(yaml.MappingNode, mapTag, "", p.line, p.col(i))
	m.Style = yaml.FlowStyle
	base := len(p.stack)
	j := skipSpaces(s, i+1)
	for {
		if j == len(s) {
			return nil, 0, false
		}
		if s[j] == '}' {
			j++
			break
		}
		key, k, ok := p.inline(j, true)
		if !ok || key.Kind != yaml.ScalarNode {
			return nil, 0, false
		}
		k = skipSpaces(s, k)
		if k == len(s) || k-j > maxKeySpan {
			return nil, 0, false
		}
		var v *yaml.Node
		if s[k] == ':' {
			// In flow context a ':' right after a key is always the value
			// indicator ("{"a":b}"); plain keys only stop at ": " anyway.
			k = skipSpaces(s, k+1)
			if k == len(s) {
				return nil, 0, false
			}
			if s[k] != ',' && s[k] != '}' {
				if v, k, ok = p.inline(k, true); !ok {
					return nil, 0, false
				}
				k = skipSpaces(s, k)
				if k == len(s) {
					return nil, 0, false
				}
			}
		}
		if v == nil {
			if s[k] != ',' && s[k] != '}' {
				return nil, 0, false
			}
			// yaml.v3 places an empty value at the token that ends it.
			v = p.newNode(yaml.ScalarNode, nullTag, "", p.line, p.col(k))
		}
		p.stack = append(p.stack, key, v)
		if s[k] == '}' {
			j = k + 1
			break
		}
		if s[k] != ',' {
			return nil, 0, false
		}
		j = skipSpaces(s, k+1)
	}
	m.Content = p.collect(base)
	return m, j, true
}

// doubleQuoted scans a double-quoted scalar opening at byte i and closing on
// the same line, decoding the escapes yaml.v3 knows.
func doubleQuoted(s string, i int) (string, int, bool) {
	j := i + 1
	k := j
	for k < len(s) && s[k] != '"' && s[k] != '\\' {
		k++
	}
	if k == len(s) {
		return "", 0, false
	}
	if s[k] == '"' {
		return s[j:k], k + 1, true // no escapes: share the input
	}
	buf := []byte(s[j:k])
	for k < len(s) {
		c := s[k]
		if c == '"' {
			return string(buf), k + 1, true
		}
		if c != '\\' {
			buf = append(buf, c)
			k++
			continue
		}
		if k+1 == len(s) {
			return "", 0, false // escaped line break: multi-line scalar
		}
		code := 0
		switch s[k+1] {
		case '0':
			buf = append(buf, 0)
		case 'a':
			buf = append(buf, '\a')
		case 'b':
			buf = append(buf, '\b')
		case 't':
			buf = append(buf, '\t')
		case 'n':
			buf = append(buf, '\n')
		case 'v':
			buf = append(buf, '\v')
		case 'f':
			buf = append(buf, '\f')
		case 'r':
			buf = append(buf, '\r')
		case 'e':
			buf = append(buf, 0x1b)
		case ' ', '"', '\'', '\\':
			buf = append(buf, s[k+1])
		case 'N':
			buf = utf8.AppendRune(buf, 0x85)
		case '_':
			buf = utf8.AppendRune(buf, 0xA0)
		case 'L':
			buf = utf8.AppendRune(buf, 0x2028)
		case 'P':
			buf = utf8.AppendRune(buf, 0x2029)
		case 'x':
			code = 2
		case 'u':
			code = 4
		case 'U':
			code = 8
		default:
			return "", 0, false // yaml.v3 rejects unknown escapes, even "\/"
		}
		k += 2
		if code > 0 {
			if k+code > len(s) {
				return "", 0, false
			}
			r := 0
			for _, h := range []byte(s[k : k+code]) {
				d, ok := hexVal(h)
				if !ok {
					return "", 0, false
				}
				r = r<<4 + d
			}
			if r >= 0xD800 && r <= 0xDFFF || r > 0x10FFFF {
				return "", 0, false
			}
			buf = utf8.AppendRune(buf, rune(r))
			k += code
		}
	}
	return "", 0, false
}

func hexVal(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// singleQuoted scans a single-quoted scalar opening at byte i and closing on
// the same line; a doubled quote stands for one quote.
func singleQuoted(s string, i int) (string, int, bool) {
	j := i + 1
	var buf []byte
	for k := j; k < len(s); k++ {
		if s[k] != '\'' {
			continue
		}
		if k+1 < len(s) && s[k+1] == '\'' {
			buf = append(buf, s[j:k+1]...)
			k++
			j = k + 1
			continue
		}
		if buf == nil {
			return s[j:k], k + 1, true
		}
		return string(append(buf, s[j:k]...)), k + 1, true
	}
	return "", 0, false
}

// newNode returns a node carved from the current slab.
func (p *parser) newNode(kind yaml.Kind, tag, value string, line, column int) *yaml.Node {
	if len(p.nodes) == cap(p.nodes) {
		p.nodes = make([]yaml.Node, 0, p.chunk)
		p.chunk = min(2*p.chunk, maxChunk)
	}
	p.nodes = p.nodes[:len(p.nodes)+1]
	n := &p.nodes[len(p.nodes)-1]
	// Write every field: a reused slab still holds an earlier tree.
	*n = yaml.Node{Kind: kind, Tag: tag, Value: value, Line: line, Column: column}
	return n
}

// alloc returns an empty slice with room for n pointers, carved from a
// shared backing array.
func (p *parser) alloc(n int) []*yaml.Node {
	if cap(p.ptrs)-len(p.ptrs) < n {
		p.ptrs = make([]*yaml.Node, 0, max(n, p.chunk))
	}
	l := len(p.ptrs)
	p.ptrs = p.ptrs[:l+n]
	// The capacity is capped so that appending to one node's Content
	// reallocates instead of overwriting its neighbour's.
	return p.ptrs[l : l : l+n]
}

// collect moves the children pushed since base into a Content slice.
func (p *parser) collect(base int) []*yaml.Node {
	kids := p.stack[base:]
	if len(kids) == 0 {
		return nil
	}
	c := append(p.alloc(len(kids)), kids...)
	p.stack = p.stack[:base]
	return c
}
