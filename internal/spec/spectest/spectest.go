package spectest

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// Block parses text as a kind's config block. Empty text gives an empty
// block located on line 1, as a `config:` key without a value would be.
func Block(t testing.TB, text string) spec.Block {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	if len(doc.Content) == 0 {
		return spec.Block{Line: 1}
	}
	return spec.Block{Node: doc.Content[0]}
}
