package spec

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestMergeKeysLoseToExplicitKeys: YAML's merge keys never override a key
// the mapping sets itself, wherever it is written; in a list of merged
// mappings the earlier one wins.
func TestMergeKeysLoseToExplicitKeys(t *testing.T) {
	type cfg struct {
		Interval Duration `yaml:"interval"`
		Timeout  Duration `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	}
	text := `
base: &base {interval: 10s, timeout: 1s, retries: 1}
other: &other {retries: 7, timeout: 9s}
before:
  interval: 20s
  <<: *base
after:
  <<: *base
  interval: 20s
list:
  <<: [*other, *base]
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	root := Block{Node: doc.Content[0]}
	for _, key := range []string{"before", "after"} {
		var c cfg
		if err := root.Sub(key).Decode(&c); err != nil {
			t.Fatal(err)
		}
		if c.Interval.Std().String() != "20s" || c.Timeout.Std().String() != "1s" || c.Retries != 1 {
			t.Errorf("%s: %+v, want the explicit interval 20s and the merged rest", key, c)
		}
	}
	var c cfg
	if err := root.Sub("list").Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Retries != 7 || c.Timeout.Std().String() != "9s" || c.Interval.Std().String() != "10s" {
		t.Errorf("list: %+v, want the first merged mapping to win", c)
	}
}
