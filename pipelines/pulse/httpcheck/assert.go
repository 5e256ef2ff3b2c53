package httpcheck

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/theory/jsonpath"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// excerptLen bounds the part of a body or header quoted in a failure.
const excerptLen = 64

// assertions are what a response must satisfy beyond its status code.
type assertions struct {
	bodyMatches, bodyNotMatches     []*regexp.Regexp
	headerMatches, headerNotMatches []headerRule
	json                            []jsonRule
	maxResponseTime                 time.Duration // 0: none
	bodyLimit                       int64         // 0: none; a larger body fails
	tlsWarning                      time.Duration // a certificate expiring sooner fails
}

type headerRule struct {
	name         string
	re           *regexp.Regexp
	allowMissing bool
}

// jsonRule is `<JSONPath> == <JSON value>` or `!=`: every node the path
// selects equals (or differs from) the value, and it selects at least one.
type jsonRule struct {
	text  string
	path  *jsonpath.Path
	equal bool
	value any
}

type rawHeaderRule struct {
	Header       string `yaml:"header"`
	Regexp       string `yaml:"regexp"`
	AllowMissing bool   `yaml:"allow_missing"`
}

// readsBody reports whether the assertions look at the body.
func (a *assertions) readsBody() bool {
	return len(a.bodyMatches)+len(a.bodyNotMatches)+len(a.json) > 0
}

// hasHeaderRules reports whether the assertions look at the headers.
func (a *assertions) hasHeaderRules() bool {
	return len(a.headerMatches)+len(a.headerNotMatches) > 0
}

// parseAssertions validates the assertion keys of the check's block.
func parseAssertions(b spec.Block, cfg config) (assertions, []error) {
	var a assertions
	var errs []error
	compile := func(key string, exprs []string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for i, expr := range exprs {
			re, err := regexp.Compile(expr)
			if err != nil {
				errs = append(errs, &spec.Error{Line: itemLine(b, key, i), Field: fmt.Sprintf("%s[%d]", key, i), Msg: "invalid regexp: " + err.Error()})
				continue
			}
			out = append(out, re)
		}
		return out
	}
	a.bodyMatches = compile("fail_if_body_matches_regexp", cfg.FailIfBodyMatchesRegexp)
	a.bodyNotMatches = compile("fail_if_body_not_matches_regexp", cfg.FailIfBodyNotMatchesRegexp)
	headers := func(key string, raw []rawHeaderRule) []headerRule {
		var out []headerRule
		for i, r := range raw {
			field := fmt.Sprintf("%s[%d]", key, i)
			if r.Header == "" {
				errs = append(errs, &spec.Error{Line: itemLine(b, key, i), Field: field + ".header", Msg: "required"})
				continue
			}
			re, err := regexp.Compile(r.Regexp)
			if err != nil {
				errs = append(errs, &spec.Error{Line: itemLine(b, key, i), Field: field + ".regexp", Msg: "invalid regexp: " + err.Error()})
				continue
			}
			out = append(out, headerRule{name: http.CanonicalHeaderKey(r.Header), re: re, allowMissing: r.AllowMissing})
		}
		return out
	}
	a.headerMatches = headers("fail_if_header_matches", cfg.FailIfHeaderMatches)
	a.headerNotMatches = headers("fail_if_header_not_matches", cfg.FailIfHeaderNotMatches)
	for i, text := range cfg.FailIfBodyJSONNotMatches {
		rule, err := parseJSONRule(text)
		if err != nil {
			errs = append(errs, &spec.Error{Line: itemLine(b, "fail_if_body_json_not_matches", i),
				Field: fmt.Sprintf("fail_if_body_json_not_matches[%d]", i), Msg: err.Error()})
			continue
		}
		a.json = append(a.json, rule)
	}
	if cfg.MaxResponseTime != nil {
		a.maxResponseTime = cfg.MaxResponseTime.Std()
		if a.maxResponseTime <= 0 {
			errs = append(errs, b.Errorf("max_response_time", "must be greater than zero"))
		}
	}
	if cfg.BodySizeLimit != "" {
		n, err := parseBytes(cfg.BodySizeLimit)
		if err != nil {
			errs = append(errs, b.Errorf("body_size_limit", "%v", err))
		}
		a.bodyLimit = n
	}
	a.tlsWarning = certs.Warning(cfg.TLSExpiryWarning)
	return a, errs
}

// parseJSONRule parses `$.status == "UP"`.
func parseJSONRule(text string) (jsonRule, error) {
	r := jsonRule{text: text}
	i, op := -1, ""
	for _, o := range []string{" == ", " != "} {
		if j := strings.Index(text, o); j >= 0 && (i < 0 || j < i) {
			i, op = j, o
		}
	}
	if i < 0 {
		return r, fmt.Errorf("want <JSONPath> == <JSON value> (or !=), for example '$.status == \"UP\"'; got %q", text)
	}
	path, err := jsonpath.Parse(strings.TrimSpace(text[:i]))
	if err != nil {
		return r, fmt.Errorf("invalid JSONPath %q: %v", strings.TrimSpace(text[:i]), err)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(text[i+len(op):])), &r.value); err != nil {
		return r, fmt.Errorf("the value after %s is not JSON (quote strings): %q", strings.TrimSpace(op), strings.TrimSpace(text[i+len(op):]))
	}
	r.path, r.equal = path, op == " == "
	return r, nil
}

// parseBytes reads 4096, "4096", "64KiB", "1MiB", "1MB" (decimal units are
// taken as binary, as blackbox_exporter does).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size in bytes, or with KiB, MiB or GiB; got %q", s)
	}
	return n * mult, nil
}

// checkHeaders applies the header rules; "" when they pass.
func (a *assertions) checkHeaders(h http.Header) string {
	for _, r := range a.headerMatches {
		for _, v := range h.Values(r.name) {
			if r.re.MatchString(v) {
				return fmt.Sprintf("header %s matches %q (fail_if_header_matches): %s", r.name, r.re, excerpt(v))
			}
		}
	}
	for _, r := range a.headerNotMatches {
		values := h.Values(r.name)
		if len(values) == 0 {
			if r.allowMissing {
				continue
			}
			return fmt.Sprintf("header %s missing (fail_if_header_not_matches)", r.name)
		}
		matched := false
		for _, v := range values {
			matched = matched || r.re.MatchString(v)
		}
		if !matched {
			return fmt.Sprintf("header %s does not match %q (fail_if_header_not_matches): %s", r.name, r.re, excerpt(values[0]))
		}
	}
	return ""
}

// checkBody applies the body rules; "" when they pass.
func (a *assertions) checkBody(body []byte) string {
	for _, re := range a.bodyMatches {
		if loc := re.FindIndex(body); loc != nil {
			return fmt.Sprintf("body matches %q (fail_if_body_matches_regexp): %s", re, excerpt(string(body[loc[0]:loc[1]])))
		}
	}
	for _, re := range a.bodyNotMatches {
		if !re.Match(body) {
			return fmt.Sprintf("body does not match %q (fail_if_body_not_matches_regexp): %s", re, excerpt(string(body)))
		}
	}
	if len(a.json) == 0 {
		return ""
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Sprintf("body is not JSON (fail_if_body_json_not_matches): %s", excerpt(string(body)))
	}
	for _, r := range a.json {
		nodes := r.path.Select(doc)
		if len(nodes) == 0 {
			return fmt.Sprintf("%s: the path selects nothing (fail_if_body_json_not_matches)", r.text)
		}
		for _, n := range nodes {
			if reflect.DeepEqual(n, r.value) != r.equal {
				got, _ := json.Marshal(n)
				return fmt.Sprintf("%s: got %s (fail_if_body_json_not_matches)", r.text, printable(string(got)))
			}
		}
	}
	return ""
}

// excerpt is a short, printable piece of s, quoted, for a failure message.
func excerpt(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if r := []rune(s); len(r) > excerptLen {
		return strconv.Quote(string(r[:excerptLen])) + "…"
	}
	return strconv.Quote(s)
}

// printable is s (JSON text) without control characters, cut short.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if r := []rune(s); len(r) > excerptLen {
		return string(r[:excerptLen]) + "…"
	}
	return s
}
