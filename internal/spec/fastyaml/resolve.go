package fastyaml

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Short tags exactly as yaml.v3 stores them in Node.Tag.
const (
	nullTag      = "!!null"
	boolTag      = "!!bool"
	strTag       = "!!str"
	intTag       = "!!int"
	floatTag     = "!!float"
	timestampTag = "!!timestamp"
	seqTag       = "!!seq"
	mapTag       = "!!map"
)

// resolveTag returns the tag yaml.v3 gives an untagged plain scalar with
// value s. It mirrors resolve("", s) in go.yaml.in/yaml/v3 resolve.go
// (v3.0.5), with fast paths in front of the expensive parts: the strconv
// error values allocate, and most monitor values are words like "60s".
func resolveTag(s string) string {
	if s == "" {
		return nullTag
	}
	switch c := s[0]; {
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		return resolveNumeric(s)
	case c == '.':
		switch s {
		case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF":
			return floatTag
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return floatTag
		}
		return strTag
	case strings.IndexByte("yYnNtTfFoO~", c) >= 0:
		// yaml.v3 only looks these up in its table: yes/no/on/off are strings.
		switch s {
		case "true", "True", "TRUE", "false", "False", "FALSE":
			return boolTag
		case "~", "null", "Null", "NULL":
			return nullTag
		}
		return strTag
	}
	return strTag
}

// resolveNumeric handles scalars starting with a sign or a digit.
func resolveNumeric(s string) string {
	switch s {
	case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return floatTag
	}
	if isSmallDecimal(s) {
		return intTag
	}
	if !onlyNumberChars(s) {
		return strTag
	}
	return resolveNumericSlow(s)
}

// isSmallDecimal reports whether s is an optionally signed decimal integer
// without leading zeros that surely fits an int64. Leading zeros are left to
// the slow path because yaml.v3 reads "0777" as octal and "09" as a float.
func isSmallDecimal(s string) bool {
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// onlyNumberChars reports whether every byte of s may occur in something
// yaml.v3 resolves to !!int, !!float or !!timestamp (Go number syntax with
// base prefixes and underscores, and time.Parse layouts, which accept ',' as
// the fraction separator). Anything else is certainly a !!str.
func onlyNumberChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case strings.IndexByte("+-._,: xXoOtTZ", c) >= 0:
		default:
			return false
		}
	}
	return true
}

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolveNumericSlow is the 'D'/'S' branch of yaml.v3's resolve, copied
// step by step (values dropped, tags kept).
func resolveNumericSlow(in string) string {
	if parseTimestamp(in) {
		return timestampTag
	}
	plain := strings.ReplaceAll(in, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return intTag
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return intTag
	}
	if yamlStyleFloat.MatchString(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return floatTag
		}
	}
	if strings.HasPrefix(plain, "0b") {
		if _, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
			return intTag
		}
		if _, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
			return intTag
		}
	} else if strings.HasPrefix(plain, "-0b") {
		if _, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
			return intTag
		}
	}
	if strings.HasPrefix(plain, "0o") {
		if _, err := strconv.ParseInt(plain[2:], 8, 64); err == nil {
			return intTag
		}
		if _, err := strconv.ParseUint(plain[2:], 8, 64); err == nil {
			return intTag
		}
	} else if strings.HasPrefix(plain, "-0o") {
		if _, err := strconv.ParseInt("-"+plain[3:], 8, 64); err == nil {
			return intTag
		}
	}
	return strTag
}

// Copied from yaml.v3 resolve.go.
var allowedTimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// parseTimestamp mirrors yaml.v3's parseTimestamp.
func parseTimestamp(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, format := range allowedTimestampFormats {
		if _, err := time.Parse(format, s); err == nil {
			return true
		}
	}
	return false
}
