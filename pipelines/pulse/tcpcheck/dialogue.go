package tcpcheck

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// maxLine bounds a line read while expecting; longer ones are split.
const maxLine = 4096

// maxExpectLines bounds how many lines one expect step reads before giving
// up: a server that talks for ever is not the one expected.
const maxExpectLines = 100

// rawStep is one step of query_response, as blackbox_exporter writes it:
// expect a line matching a regexp, send a line, or upgrade to TLS.
type rawStep struct {
	Expect   string `yaml:"expect"`
	Send     string `yaml:"send"`
	StartTLS bool   `yaml:"starttls"`
}

type step struct {
	expect   *regexp.Regexp
	send     string
	startTLS bool
}

func parseSteps(b spec.Block, raw []rawStep) ([]step, []error) {
	var out []step
	var errs []error
	for i, r := range raw {
		field := fmt.Sprintf("query_response[%d]", i)
		line := b.LineOf("query_response")
		if n := b.Sub("query_response").Node; n != nil && i < len(n.Content) {
			line = n.Content[i].Line
		}
		s := step{send: r.Send, startTLS: r.StartTLS}
		switch {
		case r.Expect == "" && r.Send == "" && !r.StartTLS:
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "needs expect, send or starttls"})
			continue
		case r.StartTLS && r.Expect != "":
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "starttls and expect in one step: expect the server's go-ahead in the step before"})
			continue
		case strings.ContainsAny(r.Send, "\r\n"):
			errs = append(errs, &spec.Error{Line: line, Field: field + ".send", Msg: "one line without line breaks (a newline is added)"})
			continue
		}
		if r.Expect != "" {
			re, err := regexp.Compile(r.Expect)
			if err != nil {
				errs = append(errs, &spec.Error{Line: line, Field: field + ".expect", Msg: "invalid regexp: " + err.Error()})
				continue
			}
			s.expect = re
		}
		out = append(out, s)
	}
	return out, errs
}

// expect reads lines until one matches re, and returns the last line read.
func expect(r *bufio.Reader, re *regexp.Regexp) (string, error) {
	var last string
	for range maxExpectLines {
		line, err := readLine(r)
		if line != "" {
			last = line
		}
		if re.MatchString(line) {
			return line, nil
		}
		if err != nil {
			return last, err
		}
	}
	return last, fmt.Errorf("no match in %d lines", maxExpectLines)
}

func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for b.Len() < maxLine {
		c, err := r.ReadByte()
		if err != nil {
			return b.String(), err
		}
		if c == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// lastLine quotes the last line the server sent, for a failure.
func lastLine(line string) string {
	if line == "" {
		return ""
	}
	if len(line) > 64 {
		line = line[:64] + "…"
	}
	return "; last line " + strconv.Quote(line)
}
