package fastyaml

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseMatchesYAMLv3 checks the contract on arbitrary input: Parse
// bails out, or returns exactly yaml.v3's tree (comments aside). If yaml.v3
// fails, Parse must bail out.
func FuzzParseMatchesYAMLv3(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
	})
}

// FuzzResolveTag checks the fast paths of resolveTag against yaml.v3 for
// scalars that Parse would produce as a plain value.
func FuzzResolveTag(f *testing.F) {
	for _, s := range scalars {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkScalar(t, s)
	})
}

// scalars exercise every branch of yaml.v3's resolver.
var scalars = []string{
	"", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE",
	"false", "yes", "no", "on", "off", "y", "n", "0", "-0", "+0", "1", "-1",
	"+1", "12", "007", "08", "09", "0x1F", "0X1F", "0x", "0o17", "0O17",
	"0o8", "-0o17", "0b101", "-0b101", "0B1", "1_000", "_1", "1__0",
	"9223372036854775807", "9223372036854775808", "18446744073709551615",
	"18446744073709551616", "-9223372036854775808", "-9223372036854775809",
	"123456789012345678", "1234567890123456789", "1.5", "-1.5", ".5", "-.5",
	"1.", "1e3", "1E3", "1e+3", "1e-3", "1e", "e3", ".e3", "1.2.3",
	"10.0.0.1", ".inf", ".Inf", ".INF", ".iNf", "-.inf", "+.inf", "-.Inf",
	"+.INF", ".nan", ".NaN", ".NAN", ".nAn", "0x1p-2", "1_0.5", "._5",
	".1e999", "1e999", "inf", "nan", "-inf", "+Inf", "Infinity",
	"2001-12-14", "2001-12-14t21:59:43.10-05:00",
	"2001-12-14T21:59:43.10Z", "2001-12-14 21:59:43.10",
	"2001-12-14 21:59:43,10", "2001-1-2", "2001-13-14", "20011-12-14",
	"2001-12-14T21:59:43.10+05:00", "1:20", "1:20:30", "60s", "5m",
	"0.5s", "-x", "+x", "1a", "0xZZ", "0b2", "-0b", "-0o", "0o", "0b",
	"1 2", "12 34", "1,000", "1_000.5", "0x_1F", "0_7", "-0x1F", "+0x1F",
	"-", "+", ".", "..", "-.", "+.", "-_", "0.0.0", "1e1_0", "0e0",
}

// checkScalar compares resolveTag(s), and the slow path it short-cuts, with
// the tag yaml.v3 gives s as a plain mapping value.
func checkScalar(t *testing.T, s string) {
	in := "k: " + s + "\n"
	n, ok := Parse([]byte(in))
	if !ok {
		return // not a single plain value; nothing to compare
	}
	v := n.Content[0].Content[1]
	if v.Style != 0 || v.Value != s {
		return
	}
	var want yaml.Node
	if err := yaml.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("yaml.v3 fails on %q: %v", in, err)
	}
	wantTag := want.Content[0].Content[1].Tag
	if v.Tag != wantTag {
		t.Fatalf("tag of %q = %s, yaml.v3 says %s", s, v.Tag, wantTag)
	}
	if s != "" && (s[0] == '+' || s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		switch s {
		case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		default:
			if slow := resolveNumericSlow(s); slow != wantTag {
				t.Fatalf("slow tag of %q = %s, yaml.v3 says %s", s, slow, wantTag)
			}
		}
	}
}

func TestResolveTag(t *testing.T) {
	for _, s := range scalars {
		checkScalar(t, s)
	}
}

// TestContentIsolated makes sure Content slices carved from one backing
// array do not overwrite each other when a caller appends to one.
func TestContentIsolated(t *testing.T) {
	n, ok := Parse([]byte("a: [1, 2]\nb: [3, 4]\n"))
	if !ok {
		t.Fatal("bailed out")
	}
	m := n.Content[0]
	a, b := m.Content[1], m.Content[3]
	a.Content = append(a.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "x"})
	if b.Content[0].Value != "3" || len(m.Content) != 4 {
		t.Fatalf("append to one Content changed another: %v", b.Content[0].Value)
	}
	n.Content = append(n.Content, &yaml.Node{})
	if m.Content[0].Value != "a" {
		t.Fatal("append to document Content clobbered the mapping")
	}
}

// fragments is the vocabulary of FuzzFragments: each input byte picks one,
// so the fuzzer explores combinations of YAML constructs instead of bytes.
var fragments = []string{
	"\n", "\n", "\n", " ", " ", "  ", "    ", "- ", "- ", "-", "a", "b", "key",
	": ", ": ", ":", "# c", " #c", "#", "{", "}", "[", "]", ", ", ",", "'",
	"\"", "''", "\\", "\\n", "\\x4", "x:y", "1", "0x1F", "-1", "1.5", "~",
	"null", "true", "---", "...", "\r\n", "\r", "é", "?", "? ", "<<", "!",
	"&a ", "*a", "|", ">", "\t", "2001-12-14", "http://h:80/p#f", "%", "@",
	"- a: 1\n", "  b: 2\n", "k:\n", "- - ", "{a: b}", "[a, b]", "\"q\"",
	"'s'", " ", "\n  ", "\n- ", "\n  - ", "\n    ", "\u2028", "\x00",
}

func FuzzFragments(f *testing.F) {
	f.Add([]byte{0, 1, 2})
	f.Add([]byte{11, 13, 10, 0, 7, 13, 10, 0, 5, 7, 14, 10})
	f.Fuzz(func(t *testing.T, picks []byte) {
		var b []byte
		for _, c := range picks {
			b = append(b, fragments[int(c)%len(fragments)]...)
		}
		check(t, b)
	})
}
