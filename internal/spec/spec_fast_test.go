package spec

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestFastScalarsMatchYAMLv3: the fast path decodes exactly what yaml.v3's
// own Decode does, or steps aside.
func TestFastScalarsMatchYAMLv3(t *testing.T) {
	inputs := []string{"abc", "'12'", "12", "-7", "+3", "0777", "0x1f", "1_000", "1.5", "true", "True", "yes", "false", "FALSE", "9223372036854775808", "128", "''", "2001-12-14"}
	targets := []any{new(string), new(bool), new(int), new(int8), new(int64)}
	for _, in := range inputs {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("v: "+in), &doc); err != nil {
			t.Fatal(err)
		}
		n := doc.Content[0].Content[1]
		for _, target := range targets {
			typ := reflect.TypeOf(target).Elem()
			fast := reflect.New(typ)
			if !decodeScalarFast(n, fast.Elem()) {
				continue
			}
			slow := reflect.New(typ)
			if err := n.Decode(slow.Interface()); err != nil {
				t.Errorf("%q into %v: fast path accepted what yaml.v3 rejects (%v)", in, typ, err)
				continue
			}
			if !reflect.DeepEqual(fast.Elem().Interface(), slow.Elem().Interface()) {
				t.Errorf("%q into %v: fast %v, yaml.v3 %v", in, typ, fast.Elem(), slow.Elem())
			}
		}
	}
}
