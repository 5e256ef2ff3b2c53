package config

import "bytes"

// chunk is one monitor's text and the file line it starts on.
type chunk struct {
	data []byte
	line int // 1-based
}

// split is a monitor file cut for parallel loading: one chunk per monitor,
// and the text of the other top-level sections before and after the
// `monitors:` section.
type split struct {
	chunks        []chunk
	before, after chunk
}

// splitMonitors cuts a monitor file into one chunk per monitor so that a
// large file is parsed in parallel and never held as one node tree. It only
// accepts the common shape: a top-level `monitors:` key alone on its line,
// followed by a block sequence whose items all start at the same
// indentation; other top-level sections (`metrics:`) may come before or
// after it. For anything else it returns ok=false and the caller parses
// the whole document, so this is purely an optimisation.
func splitMonitors(data []byte) (sp split, ok bool) {
	indent := -1
	start, startLine := -1, 0
	inMonitors, seenKey := false, false
	line := 0
	sp.before.line = 1
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		text := data[off:next]
		line++
		lineStart := off
		off = next

		body := bytes.TrimRight(text, " \r\n")
		trimmed := bytes.TrimLeft(body, " ")
		if len(trimmed) == 0 || trimmed[0] == '#' {
			continue // blank or comment: belongs to whatever surrounds it
		}
		if bytes.IndexByte(body[:len(body)-len(trimmed)], '\t') >= 0 || bytes.HasPrefix(body, []byte("\t")) {
			return split{}, false
		}
		col := len(body) - len(trimmed)
		if col == 0 && (bytes.HasPrefix(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("...")) || trimmed[0] == '%') {
			return split{}, false // several documents or directives: yaml.v3 decides
		}
		if !inMonitors {
			if col == 0 && isMonitorsKey(trimmed) {
				seenKey, inMonitors = true, true
				sp.before.data = data[:lineStart]
			}
			continue // another section, before or after the monitors
		}
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
		if col == 0 && !isItem {
			// The next top-level key: the monitors end here. What follows
			// is loaded as a whole (a second monitors key included, which
			// makes the caller fall back to the whole document).
			sp.after = chunk{data: data[lineStart:], line: line}
			break
		}
		if indent < 0 {
			if !isItem {
				return split{}, false
			}
			indent = col
		}
		switch {
		case col < indent:
			return split{}, false // a shape we do not handle
		case col == indent:
			if !isItem {
				return split{}, false
			}
			if start >= 0 {
				sp.chunks = append(sp.chunks, chunk{data: data[start:lineStart], line: startLine})
			}
			start, startLine = lineStart, line
		}
	}
	if !seenKey {
		return split{}, false
	}
	if start >= 0 {
		endAt := len(data)
		if sp.after.data != nil {
			endAt = len(data) - len(sp.after.data)
		}
		sp.chunks = append(sp.chunks, chunk{data: data[start:endAt], line: startLine})
	}
	return sp, true
}

// isMonitorsKey reports whether a top-level line is `monitors:` with
// nothing after it but a comment.
func isMonitorsKey(b []byte) bool {
	rest, ok := bytes.CutPrefix(b, []byte("monitors:"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " ")
	return len(rest) == 0 || rest[0] == '#'
}
