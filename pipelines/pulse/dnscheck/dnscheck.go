package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kind registers the dns check.
var Kind = pulse.Kind{Name: "dns", AddressKeys: []string{"query_name"}, Parse: parseProber, Address: address}

// resolvConf is where the system resolver is read from when server is unset.
var resolvConf = "/etc/resolv.conf"

type config struct {
	QueryName              string   `yaml:"query_name"`
	QueryType              string   `yaml:"query_type"`
	Server                 string   `yaml:"server"`
	Transport              string   `yaml:"transport"`
	ValidRcodes            []string `yaml:"valid_rcodes"`
	FailIfNoneMatchesRegex []string `yaml:"fail_if_none_matches_regexp"`
	FailIfAllMatchRegexp   []string `yaml:"fail_if_all_match_regexp"`
	Retries                int      `yaml:"retries"`
}

type prober struct {
	qtype     uint16
	server    string
	transport string
	rcodes    []int
	none, all []*regexp.Regexp
	retries   int
}

func parseProber(b spec.Block) (any, string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, "", err
	}
	var errs []error
	addr, err := address(b)
	if err != nil {
		errs = append(errs, err)
	}
	p := &prober{qtype: dns.TypeA, transport: "udp", retries: c.Retries}
	if c.QueryType != "" {
		t, ok := dns.StringToType[strings.ToUpper(c.QueryType)]
		if !ok {
			errs = append(errs, b.Errorf("query_type", "unknown record type %q (A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, PTR, CAA…)", c.QueryType))
		}
		p.qtype = t
	}
	switch c.Transport {
	case "", "udp":
	case "tcp":
		p.transport = "tcp"
	default:
		errs = append(errs, b.Errorf("transport", "must be udp or tcp, got %q", c.Transport))
	}
	p.server, err = server(b, c.Server)
	if err != nil {
		errs = append(errs, err)
	}
	rcodes := c.ValidRcodes
	if len(rcodes) == 0 {
		rcodes = []string{"NOERROR"}
	}
	for i, name := range rcodes {
		code, ok := dns.StringToRcode[strings.ToUpper(name)]
		if !ok {
			errs = append(errs, &spec.Error{Line: b.LineOf("valid_rcodes"), Field: fmt.Sprintf("valid_rcodes[%d]", i),
				Msg: fmt.Sprintf("unknown response code %q (NOERROR, NXDOMAIN, SERVFAIL, REFUSED…)", name)})
		}
		p.rcodes = append(p.rcodes, code)
	}
	compile := func(key string, exprs []string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for i, e := range exprs {
			re, err := regexp.Compile(e)
			if err != nil {
				errs = append(errs, &spec.Error{Line: b.LineOf(key), Field: fmt.Sprintf("%s[%d]", key, i), Msg: "invalid regexp: " + err.Error()})
				continue
			}
			out = append(out, re)
		}
		return out
	}
	p.none = compile("fail_if_none_matches_regexp", c.FailIfNoneMatchesRegex)
	p.all = compile("fail_if_all_match_regexp", c.FailIfAllMatchRegexp)
	if c.Retries < 0 {
		errs = append(errs, b.Errorf("retries", "must be 0 or more, got %d", c.Retries))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

// address is dns://SERVER/NAME.
func address(b spec.Block) (string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return "", err
	}
	name := strings.TrimSuffix(c.QueryName, ".")
	if name == "" {
		return "", b.Errorf("query_name", "required")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", b.Errorf("query_name", "not a domain name: %q", c.QueryName)
	}
	srv, err := server(b, c.Server)
	if err != nil {
		return "", err
	}
	return "dns://" + srv + "/" + name, nil
}

// server is host:port of the server to ask: the configured one (port 53
// by default), or the system resolver's first nameserver.
func server(b spec.Block, s string) (string, error) {
	if s == "" {
		srv, err := systemResolver(resolvConf)
		if err != nil {
			return "", b.Errorf("server", "not set, and %v", err)
		}
		return srv, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") && strings.Count(s, ":") == 1 {
			return "", b.Errorf("server", "must be host or host:port, got %q", s)
		}
		return net.JoinHostPort(strings.Trim(s, "[]"), "53"), nil
	}
	return s, nil
}

// resolvers caches the system resolver by resolv.conf path: the address
// of every dns monitor without a server needs it, and a fleet of them must
// not read the file once per monitor at load.
var resolvers sync.Map // path → resolved

type resolved struct {
	server string
	err    error
}

// systemResolver is host:port of the first nameserver in the file at path.
func systemResolver(path string) (string, error) {
	if r, ok := resolvers.Load(path); ok {
		return r.(resolved).server, r.(resolved).err
	}
	var r resolved
	cc, err := dns.ClientConfigFromFile(path)
	switch {
	case err != nil:
		r.err = fmt.Errorf("cannot read %s: %v", path, err)
	case len(cc.Servers) == 0:
		r.err = fmt.Errorf("no nameserver in %s", path)
	default:
		r.server = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	resolvers.Store(path, r)
	return r.server, r.err
}

// Probe asks the question up to 1+retries times within ctx's deadline.
func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	name := t.Address[strings.LastIndexByte(t.Address, '/')+1:]
	return pulse.Retry(ctx, p.retries, func(ctx context.Context) pulse.Result { return p.ask(ctx, name) })
}

func (p *prober) ask(ctx context.Context, name string) pulse.Result {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), p.qtype)
	c := &dns.Client{Net: p.transport}
	resp, _, err := c.ExchangeContext(ctx, m, p.server)
	if err != nil {
		canceled := errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
		var netErr net.Error
		timeout := errors.As(err, &netErr) && netErr.Timeout() || errors.Is(err, context.DeadlineExceeded)
		r := pulse.Failf("%s %s @%s: %v", dns.TypeToString[p.qtype], name, p.server, err)
		r.Unreachable = !canceled
		r.HostDown = !canceled && (timeout || pulse.HostDownError(err))
		return r
	}
	if !slices.Contains(p.rcodes, resp.Rcode) {
		return pulse.Failf("%s %s @%s: response code %s (valid_rcodes: %s)", dns.TypeToString[p.qtype], name, p.server,
			dns.RcodeToString[resp.Rcode], rcodeNames(p.rcodes))
	}
	answers := make([]string, len(resp.Answer))
	for i, rr := range resp.Answer {
		answers[i] = rr.String()
	}
	for _, re := range p.none {
		if !slices.ContainsFunc(answers, re.MatchString) {
			return pulse.Failf("no answer matches %q (fail_if_none_matches_regexp): %s", re, summary(answers))
		}
	}
	for _, re := range p.all {
		if len(answers) > 0 && !slices.ContainsFunc(answers, func(a string) bool { return !re.MatchString(a) }) {
			return pulse.Failf("every answer matches %q (fail_if_all_match_regexp): %s", re, summary(answers))
		}
	}
	return pulse.Result{OK: true}
}

func rcodeNames(codes []int) string {
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = dns.RcodeToString[c]
	}
	return strings.Join(names, ", ")
}

// summary lists the answers shortly, for a failure.
func summary(answers []string) string {
	if len(answers) == 0 {
		return "no answers"
	}
	s := strings.Join(answers, "; ")
	s = strings.ReplaceAll(s, "\t", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
