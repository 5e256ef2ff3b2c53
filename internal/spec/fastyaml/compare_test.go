package fastyaml

import (
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"
)

// reference parses data with yaml.v3 the way callers do. A panic inside
// yaml.v3 counts as an error: Parse must bail out on such input too.
func reference(data []byte) (n *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("yaml.v3 panicked: %v", r)
		}
	}()
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, err
	}
	return &node, nil
}

// diffNodes describes the first difference between two trees, ignoring
// only the comment fields, or returns "" if they are identical.
func diffNodes(got, want *yaml.Node, path string) string {
	if got == nil || want == nil {
		if got != want {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
	type fields struct {
		Kind         yaml.Kind
		Style        yaml.Style
		Tag, Value   string
		Anchor       string
		Alias        *yaml.Node
		Line, Column int
		Len          int
	}
	g := fields{got.Kind, got.Style, got.Tag, got.Value, got.Anchor, got.Alias, got.Line, got.Column, len(got.Content)}
	w := fields{want.Kind, want.Style, want.Tag, want.Value, want.Anchor, want.Alias, want.Line, want.Column, len(want.Content)}
	if g != w {
		return fmt.Sprintf("%s:\n got  %+v\n want %+v", path, g, w)
	}
	if (got.Content == nil) != (want.Content == nil) {
		return fmt.Sprintf("%s: Content nil-ness differs", path)
	}
	for i := range got.Content {
		if d := diffNodes(got.Content[i], want.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// check enforces the contract on one input: bail out, or match yaml.v3.
// It reports whether Parse handled the input.
func check(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := Parse(data)
	if !ok {
		if got != nil {
			t.Fatalf("Parse(%q) bailed out but returned a node", data)
		}
		return false
	}
	want, err := reference(data)
	if err != nil {
		t.Fatalf("Parse(%q) succeeded but yaml.v3 fails: %v", data, err)
	}
	if d := diffNodes(got, want, "doc"); d != "" {
		t.Fatalf("Parse(%q) differs from yaml.v3 at %s", data, d)
	}
	return true
}
