package builtin

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's sample monitor lists every check type the agent registers,
// and no other (issue #24: it once lacked dns, grpc and tls).
func TestReadmeListsEveryCheckType(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+type: http\s+# (.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the README's sample has no `type: http  # a | b | ...` line")
	}
	var listed []string
	for _, s := range strings.Split(string(m[1]), "|") {
		listed = append(listed, strings.TrimSpace(s))
	}
	var registered []string
	for _, k := range Checks() {
		registered = append(registered, k.Name)
	}
	slices.Sort(listed)
	slices.Sort(registered)
	if !slices.Equal(listed, registered) {
		t.Errorf("the README's sample lists check types %v; the agent registers %v", listed, registered)
	}
}
