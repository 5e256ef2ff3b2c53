package config

import (
	"fmt"
	"testing"
)

func TestSplitMonitors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ok    bool
		lines []int // first line of each chunk
	}{
		{"indented items", "monitors:\n  - name: a\n    x: 1\n\n  # note\n  - name: b\n", true, []int{2, 6}},
		{"items at column 0", "# head\nmonitors:\n- name: a\n  x: 1\n- name: b\n", true, []int{3, 5}},
		{"comment after key", "monitors: # all\n  - name: a\n", true, []int{2}},
		{"empty list", "monitors:\n", true, nil},
		{"flow sequence", "monitors: [{name: a}]\n", false, nil},
		{"another key", "monitors:\n  - name: a\nother: 1\n", false, nil},
		{"document marker", "---\nmonitors:\n  - name: a\n", false, nil},
		{"tab indentation", "monitors:\n\t- name: a\n", false, nil},
		{"uneven items", "monitors:\n  - name: a\n - name: b\n", false, nil},
		{"scalar at item indent", "monitors:\n  - name: a\n  name: b\n", false, nil},
		{"no monitors key", "foo:\n  - a\n", false, nil},
		{"crlf", "monitors:\r\n  - name: a\r\n  - name: b\r\n", true, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, ok := splitMonitors([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			var lines []int
			for _, c := range chunks {
				lines = append(lines, c.line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.lines) {
				t.Fatalf("chunk lines %v, want %v", lines, tt.lines)
			}
		})
	}
}
