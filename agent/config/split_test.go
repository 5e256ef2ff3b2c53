package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestSplitMonitors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ok    bool
		lines []int // first line of each chunk
		// before and after are the other sections' text and the line
		// after starts on.
		before, after string
		afterLine     int
	}{
		{"indented items", "monitors:\n  - name: a\n    x: 1\n\n  # note\n  - name: b\n", true, []int{2, 6}, "", "", 0},
		{"items at column 0", "# head\nmonitors:\n- name: a\n  x: 1\n- name: b\n", true, []int{3, 5}, "# head\n", "", 0},
		{"comment after key", "monitors: # all\n  - name: a\n", true, []int{2}, "", "", 0},
		{"empty list", "monitors:\n", true, nil, "", "", 0},
		{"flow sequence", "monitors: [{name: a}]\n", false, nil, "", "", 0},
		{"a section after", "monitors:\n  - name: a\n\nmetrics:\n  groups: [a]\n", true, []int{2}, "", "metrics:\n  groups: [a]\n", 4},
		{"a section before", "# head\nmetrics: {groups: [a]}\nmonitors:\n  - name: a\n", true, []int{4}, "# head\nmetrics: {groups: [a]}\n", "", 0},
		{"sections around, items at column 0", "a: 1\nmonitors:\n- name: a\n- name: b\nb:\n  - 2\n", true, []int{3, 4}, "a: 1\n", "b:\n  - 2\n", 5},
		{"empty monitors then a section", "monitors:\nmetrics: {}\n", true, nil, "", "metrics: {}\n", 2},
		{"a second monitors key", "monitors:\n  - name: a\nmetrics: {}\nmonitors:\n  - name: b\n", true, []int{2}, "", "metrics: {}\nmonitors:\n  - name: b\n", 3},
		{"two monitors keys", "monitors:\nmonitors:\n  - name: b\n", true, nil, "", "monitors:\n  - name: b\n", 2},
		{"a document marker after", "monitors:\n  - name: a\n---\nmetrics: {}\n", false, nil, "", "", 0},
		{"a directive", "%YAML 1.2\nmonitors:\n  - name: a\n", false, nil, "", "", 0},
		{"document marker", "---\nmonitors:\n  - name: a\n", false, nil, "", "", 0},
		{"tab indentation", "monitors:\n\t- name: a\n", false, nil, "", "", 0},
		{"uneven items", "monitors:\n  - name: a\n - name: b\n", false, nil, "", "", 0},
		{"scalar at item indent", "monitors:\n  - name: a\n  name: b\n", false, nil, "", "", 0},
		{"no monitors key", "foo:\n  - a\n", false, nil, "", "", 0},
		{"crlf", "monitors:\r\n  - name: a\r\n  - name: b\r\n", true, []int{2, 3}, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, ok := splitMonitors([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			var lines []int
			var monitors strings.Builder
			for _, c := range sp.chunks {
				lines = append(lines, c.line)
				monitors.Write(c.data)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.lines) {
				t.Fatalf("chunk lines %v, want %v", lines, tt.lines)
			}
			if string(sp.before.data) != tt.before || string(sp.after.data) != tt.after || sp.after.line != tt.afterLine {
				t.Fatalf("before %q, after %q on line %d; want %q, %q on line %d",
					sp.before.data, sp.after.data, sp.after.line, tt.before, tt.after, tt.afterLine)
			}
			// Nothing is lost: the file is the text before, the monitors
			// key, the chunks and the text after.
			if ok && (!strings.HasPrefix(tt.in, tt.before) || !strings.HasSuffix(tt.in, monitors.String()+tt.after)) {
				t.Fatalf("before %q, chunks %q and after %q do not make up %q", tt.before, monitors.String(), tt.after, tt.in)
			}
		})
	}
}
