package spec

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The bounds of Shorten: messages up to maxMessage bytes are left alone;
// past it, quoted values longer than maxQuoted bytes keep a prefix.
const (
	maxMessage = 512
	maxQuoted  = 64
	keptQuoted = 40
)

// Shorten cuts the quoted values of a long error message ("..." or
// `...`) to a short prefix followed by their length, so a 50 MB value is
// not echoed whole into errors, logs and the /-/reload answer. What is left
// over after that is cut too. Short messages are returned unchanged.
func Shorten(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		c := msg[i]
		if c != '"' && c != '`' {
			b.WriteByte(c)
			i++
			continue
		}
		end := closing(msg, i)
		if end < 0 {
			b.WriteString(msg[i:])
			break
		}
		inner := msg[i+1 : end]
		if len(inner) > maxQuoted {
			cut := keptQuoted
			for cut > 0 && !utf8.RuneStart(inner[cut]) {
				cut--
			}
			inner = fmt.Sprintf("%s…", inner[:cut])
			b.WriteByte(c)
			b.WriteString(inner)
			b.WriteByte(c)
			fmt.Fprintf(&b, " (%d bytes)", end-i-1)
		} else {
			b.WriteString(msg[i : end+1])
		}
		i = end + 1
	}
	out := b.String()
	if len(out) > 4*maxMessage {
		cut := 4 * maxMessage
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = fmt.Sprintf("%s… (%d bytes)", out[:cut], len(out))
	}
	return out
}

// closing returns the index of the quote that closes the one at open, or -1.
// Double quotes honour backslash escapes, as %q writes them.
func closing(s string, open int) int {
	q := s[open]
	for j := open + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j
		}
	}
	return -1
}
