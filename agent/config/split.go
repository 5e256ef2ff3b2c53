package config

import "bytes"

// chunk is one monitor's text and the file line it starts on.
type chunk struct {
	data []byte
	line int // 1-based
}

// splitMonitors cuts a monitor file into one chunk per monitor so that a
// large file is parsed in parallel and never held as one node tree. It only
// accepts the common shape: a top-level `monitors:` key alone, followed by a
// block sequence whose items all start at the same indentation. For
// anything else it returns ok=false and the caller parses the whole
// document, so this is purely an optimisation.
func splitMonitors(data []byte) (chunks []chunk, ok bool) {
	indent := -1
	start, startLine := -1, 0
	seenKey := false
	line := 0
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
			return nil, false
		}
		col := len(body) - len(trimmed)
		if !seenKey {
			if col != 0 || !isMonitorsKey(trimmed) {
				return nil, false
			}
			seenKey = true
			continue
		}
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
		if indent < 0 {
			if !isItem {
				return nil, false
			}
			indent = col
		}
		switch {
		case col < indent:
			return nil, false // another top-level key or a shape we do not handle
		case col == indent:
			if !isItem {
				return nil, false
			}
			if start >= 0 {
				chunks = append(chunks, chunk{data: data[start:lineStart], line: startLine})
			}
			start, startLine = lineStart, line
		}
	}
	if !seenKey {
		return nil, false
	}
	if start >= 0 {
		chunks = append(chunks, chunk{data: data[start:], line: startLine})
	}
	return chunks, true
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
