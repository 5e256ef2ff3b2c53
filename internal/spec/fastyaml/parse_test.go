package fastyaml

import (
	"reflect"
	"testing"
)

const example = `monitors:
  - name: svc-0000001
    groups: fleet
    pulse_check:
      type: http
      interval: 60s
      timeout: 5s
      config:
        url: http://10.0.0.1:8080/health
        headers: {Authorization: "Bearer x"}
    codes:
      red: {notify: log, config: {file: ""}}
      yellow: {dispatch: false}
`

// cases are inputs with whether Parse is expected to handle them (true) or
// bail out (false). Either way its output must match yaml.v3 when it does
// not bail; check enforces that.
var cases = []struct {
	name string
	in   string
	ok   bool
}{
	{"example", example, true},

	// Block mappings.
	{"one pair", "a: b\n", true},
	{"no final newline", "a: b", true},
	{"nested", "a:\n  b:\n    c: d\n  e: f\ng: h\n", true},
	{"deep indent", "a:\n        b: c\n        d: e\n", true},
	{"indented root", "  a: 1\n  b: 2\n", true},
	{"empty value", "a:\nb: 1\n", true},
	{"empty value trailing spaces", "a:   \nb:\n", true},
	{"empty value at end", "a: 1\nb:", true},
	{"empty value comment", "a: # nothing\nb: 1\n", true},
	{"key with spaces", "a b c: d e f\n", true},
	{"space before colon", "a  : b\n", true},
	{"duplicate keys", "a: 1\na: 2\n", true},
	{"quoted keys", "\"a b\": 1\n'c': 2\n\"\": 3\n", true},
	{"quoted key space colon", "\"a\" : 1\n", true},
	{"quoted key no space", "\"a\":b\n", false},
	{"dash key", "-: x\n-a: y\n", true},
	{"question key", "?a: x\n", true},
	{"colon in key", "a:b: c\n", true},
	{"url value", "url: http://10.0.0.1:8080/health?x=1#frag\n", true},
	{"hash no space", "a: b#c\nd: e#\n", true},
	{"hash after space", "a: b #c\n", true},
	{"value colon end", "a: b:\n", false},
	{"value colon space", "a: b: c\n", false},
	{"key on same line as seq", "a: - b\n", false},
	{"key dash alone", "a: -\n", false},
	{"continuation", "a: b\n  c\n", false},
	{"continuation deep", "a:\n  b\n  c\n", false},
	{"bad dedent", "a:\n    b: 1\n  c: 2\n", false},
	{"dash after value", "a: 1\n- b\n", false},
	{"no colon", "a: 1\nb\n", false},
	{"long key", "k" + string(make([]byte, 0)) + longString(1100) + ": v\n", false},
	{"longish key", longString(900) + ": v\n", true},
	{"long value", "k: " + longString(5000) + "\n", true},
	{"trailing spaces", "a: b   \nc: 'd'  \n", true},
	{"comment after quoted no space", "a: \"x\"#c\n", true},
	{"comments everywhere", "# head\n\na: 1 # line\n# between\n  # indented\nb:\n  # inside\n  c: 2\n# foot\n", true},
	{"comment only value", "a:\n  # c\nb: 1\n", true},
	{"comment between items", "a:\n  - b\n  # c\n  - d\n", true},
	{"comment odd indent", "- a\n # c\n- b\n", true},
	{"comment dedented", "a:\n  b: 1\n # c\nc: 2\n", true},
	{"comment before indentless", "a:\n# c\n- b\n", true},
	{"comment after dash", "- # c\n  a: 1\n  b: 2\n", true},
	{"comment blank lines", "a: 1\n\n\n# c\n\nb: 2\n\n", true},
	{"spaced key colon", "a :b\n", true},

	// Block sequences.
	{"seq", "- a\n- b\n", true},
	{"seq of maps", "- a: 1\n  b: 2\n- c: 3\n", true},
	{"seq map wide", "-   a: 1\n    b: 2\n", true},
	{"seq empty items", "- \n-\n- a\n", true},
	{"seq item next line", "-\n  a: 1\n-\n  b\n", true},
	{"nested seq inline", "- - a\n  - b\n- - c\n", true},
	{"nested seq next line", "-\n  - a\n  - b\n", true},
	{"indentless", "a:\n- 1\n- 2\nb: 3\n", true},
	{"indentless of maps", "a:\n- x: 1\n  y: 2\n- z: 3\nb: 4\n", true},
	{"indentless in seq map", "- a:\n  - x\n  b: 1\n", true},
	{"indented seq", "a:\n  - 1\n  - 2\nb: 3\n", true},
	{"seq then dedent", "a:\n  - 1\n- 2\n", false},
	{"seq then key", "- a\nb: c\n", false},
	{"seq item continuation", "- a\n  b\n", false},
	{"seq bad item indent", "- a: 1\n   b: 2\n", false},
	{"dash comment", "- # c\n  - a\n", true},
	{"dash no space", "-a\n", true},
	{"dash scalar values", "- -1\n- -a\n- --\n", true},

	// Scalars and tags.
	{"ints", "a: 1\nb: -2\nc: +3\nd: 0x1F\ne: 0o17\nf: 017\ng: 1_000\nh: 0b101\ni: 9223372036854775808\nj: 09\nk: 1e3\n", true},
	{"floats", "a: 1.5\nb: .5\nc: -.inf\nd: .NaN\ne: 1e\nf: 1.\ng: +.5e-3\nh: .inf\n", true},
	{"bools", "a: true\nb: False\nc: TRUE\nd: yes\ne: on\nf: tRue\n", true},
	{"nulls", "a: ~\nb: null\nc: Null\nd: NULL\ne: nULL\nf:\n", true},
	{"timestamps", "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\nd: 2001-13-14\n", true},
	{"strings", "a: 60s\nb: 10.0.0.1\nc: 1.2.3\nd: 1:20\ne: -x\n", true},
	{"quoted numbers", "a: \"1\"\nb: '2'\nc: \"true\"\n", true},
	{"double escapes", `a: "x\ty\n\"q\" \\ \u00e9 \x41 \U0001F600 \0 \e \N \_ \L \P \' \ "` + "\n", true},
	{"double bad escape", `a: "\/"` + "\n", false},
	{"double bad hex", `a: "\xZZ"` + "\n", false},
	{"double surrogate", `a: "\ud800"` + "\n", false},
	{"double multi-line", "a: \"x\n  y\"\n", false},
	{"double escaped break", "a: \"x\\\n  y\"\n", false},
	{"single escapes", "a: 'it''s'\nb: ''''\nc: ''\n", true},
	{"single multi-line", "a: 'x\n  y'\n", false},
	{"hash in quotes", "a: \"x #y\"\nb: 'p #q'\n", true},
	{"quoted then junk", "a: \"x\" y\n", false},
	{"root scalar", "hello\n", true},
	{"root quoted", "'hello'\n", true},
	{"root scalar continued", "hello\nworld\n", false},
	{"merge key", "<<: {a: b}\n", false},
	{"merge value", "a: <<\n", false},
	{"quoted merge", "\"<<\": a\n", true},
	{"unicode", "é: {ü: b, c: d}\nname: 日本語 テキスト\n'ß': \"ẞ\"\n", true},

	// Flow collections.
	{"flow seq", "a: [b, c, d]\n", true},
	{"flow map", "a: {b: c, d: e}\n", true},
	{"flow nested", "a: {b: [c, {d: e}], f: {}}\nx: [[], [1, [2]]]\n", true},
	{"flow root", "{a: 1, b: [2, 3]}\n", true},
	{"flow root seq", "[a, 'b', \"c\"]\n", true},
	{"flow trailing comma", "a: [b, c,]\nd: {e: f,}\n", true},
	{"flow empty value", "a: {b: , c: }\nd: {e}\nf: {g, h: i}\n", true},
	{"flow colon plain", "a: {b:c, d:}\n", true},
	{"flow quoted json", "a: {\"b\":\"c\",\"d\":1}\n", true},
	{"flow url", "a: [http://x:80/y, {u: http://z}]\n", true},
	{"flow spaces", "a: { b c : d e ,  f: [ g , h ] }\n", true},
	{"flow comment", "a: [b, c] # comment\n", true},
	{"flow hash inside", "a: [b#c, d]\n", true},
	{"flow hash comment", "a: [b #c\n  ]\n", false},
	{"flow multi-line", "a: [b,\n  c]\n", false},
	{"flow double comma", "a: [b,,c]\n", false},
	{"flow leading comma", "a: [,b]\n", false},
	{"flow single pair", "a: [b: c]\n", false},
	{"flow complex key", "a: {[b]: c}\n", false},
	{"flow question", "a: [?b]\n", false},
	{"flow key root", "[a, b]: c\n", false},
	{"flow then junk", "a: [b]c\n", false},
	{"flow unclosed", "a: {b: c\n", false},
	{"flow dash", "a: [-1, -x, -]\n", true},
	{"flow dash space", "a: [- x]\n", false},
	{"flow empty", "a: []\nb: {}\n", true},

	// Documents.
	{"doc start", "---\na: 1\n", true},
	{"doc start comment", "# c\n--- # x\na: 1\n", true},
	{"doc end", "a: 1\n...\n", true},
	{"doc end comment", "a: 1\n... # x\n# y\n", true},
	{"doc start value", "--- a\n", false},
	{"two docs", "a: 1\n---\nb: 2\n", false},
	{"two docs after end", "a: 1\n...\nb: 2\n", false},
	{"empty", "", false},
	{"only comments", "# x\n\n", false},
	{"empty doc", "---\n", false},
	{"dashes key", "---a: 1\n", true},
	{"directive", "%YAML 1.2\n---\na: 1\n", false},

	// Constructs outside the subset.
	{"anchor", "a: &x 1\nb: *x\n", false},
	{"tag", "a: !!str 1\n", false},
	{"literal", "a: |\n  x\n", false},
	{"folded", "a: >\n  x\n", false},
	{"complex key", "? a\n: b\n", false},
	{"tab indent", "a:\n\tb: 1\n", false},
	{"tab value", "a: b\tc\n", false},
	{"crlf", "a: b\r\nc:\r\n  - d\r\n", true},
	{"lone cr", "a: b\rc: d\n", false},
	{"control char", "a: \x01\n", false},
	{"bom", "\ufeffa: 1\n", false},
	{"invalid utf8", "a: \xff\n", false},
	{"line separator", "a: b\u2028c\n", false},
	{"nel", "a: b\u0085c\n", false},
	{"at sign", "a: @b\n", false},
	{"backtick", "a: `b`\n", false},
	{"percent value", "a: %b\n", false},
	{"flow end in block", "a: ]\n", false},
	{"comma in block", "a: b, c\n", true},
	{"brackets in block plain", "a: b [c] {d}\n", true},
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

func TestParseMatchesYAMLv3(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := check(t, []byte(tc.in)); got != tc.ok {
				t.Errorf("Parse(%q) handled = %v, want %v", tc.in, got, tc.ok)
			}
		})
	}
}

// TestParserReuseMatches: a reused Parser gives the same trees as fresh
// parses, whatever it parsed before (a bigger and a smaller document).
func TestParserReuseMatches(t *testing.T) {
	docs := []string{
		"monitors:\n  - name: a\n    pulse_check: {type: http, config: {url: 'http://x'}}\n    groups: [a, b, c]\n",
		"- x\n",
		"a: {b: [1, 2, {c: d}]}\ne: f\n",
		"- name: b\n  enabled: false\n",
	}
	var r Parser
	for round := range 3 {
		for _, d := range docs {
			got, ok := r.Parse([]byte(d))
			want, wok := Parse([]byte(d))
			if ok != wok {
				t.Fatalf("round %d %q: reused ok=%v, fresh ok=%v", round, d, ok, wok)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d %q: reused parser gave a different tree", round, d)
			}
		}
	}
}
