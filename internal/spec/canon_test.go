package spec

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func fp(t *testing.T, text string, skip ...string) Key {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return NewFingerprint().Node(&doc, skip...).Key()
}

func TestFingerprintMeansContent(t *testing.T) {
	same := [][2]string{
		{"{a: 1, b: x}", "b: x\na: 1"},
		{"a: 'x'", "a: x"},
		{"a: &v [1, 2]\nb: *v", "a: [1, 2]\nb: [1, 2]"},
	}
	for _, p := range same {
		if fp(t, p[0]) != fp(t, p[1]) {
			t.Errorf("%q and %q should have the same key", p[0], p[1])
		}
	}
	different := [][2]string{
		{"a: 1", "a: '1'"}, // int versus string
		{"a: [ab, c]", "a: [a, bc]"},
		{"a: {b: 1}", "a: [b, 1]"},
		{"a: 1", "a: 2"},
	}
	for _, p := range different {
		if fp(t, p[0]) == fp(t, p[1]) {
			t.Errorf("%q and %q should differ", p[0], p[1])
		}
	}
	if fp(t, "url: http://a\nmethod: GET", "url") != fp(t, "method: GET\nurl: http://b", "url") {
		t.Error("skipped keys must not count")
	}
}
