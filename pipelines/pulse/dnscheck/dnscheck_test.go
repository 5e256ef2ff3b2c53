package dnscheck

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// zone answers from a small loopback zone over UDP and TCP on one port:
// up.test has two A records, mx.test an MX, anything else NXDOMAIN, and
// broken.test SERVFAIL.
func zone(t *testing.T) string {
	t.Helper()
	records := map[string][]string{
		"up.test.": {"up.test. 60 IN A 10.0.0.7", "up.test. 60 IN A 10.0.0.8"},
		"mx.test.": {"mx.test. 60 IN MX 10 mail.mx.test."},
		"lo.test.": {"lo.test. 60 IN A 127.0.0.1"},
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch rrs, ok := records[q.Name]; {
		case q.Name == "broken.test.":
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		default:
			for _, s := range rrs {
				rr, err := dns.NewRR(s)
				if err == nil && rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	// One port for both: a free UDP port may be taken for TCP, so try a few.
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		p, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if l, err := net.Listen("tcp", p.LocalAddr().String()); err == nil {
			pc, ln = p, l
			break
		}
		p.Close()
	}
	if pc == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func probe(t *testing.T, yaml string) pulse.Result {
	t.Helper()
	p, addr, err := Kind.New(spectest.Block(t, yaml), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: addr})
}

func TestDNS(t *testing.T) {
	srv := zone(t)
	tests := []struct {
		name, yaml, fails string
	}{
		{"A record", "query_name: up.test", ""},
		{"over TCP", "query_name: up.test\ntransport: tcp", ""},
		{"NXDOMAIN", "query_name: gone.test", "response code NXDOMAIN (valid_rcodes: NOERROR)"},
		{"NXDOMAIN expected", "query_name: gone.test\nvalid_rcodes: [NXDOMAIN]", ""},
		{"SERVFAIL", "query_name: broken.test", "response code SERVFAIL"},
		{"MX", "query_name: mx.test\nquery_type: MX\nfail_if_none_matches_regexp: ['mail\\.mx\\.test\\.$']", ""},
		{"no answer matches", "query_name: up.test\nfail_if_none_matches_regexp: ['10\\.0\\.0\\.9$']",
			`no answer matches "10\\.0\\.0\\.9$" (fail_if_none_matches_regexp): up.test. 60 IN A 10.0.0.7; up.test. 60 IN A 10.0.0.8`},
		{"every answer matches", "query_name: lo.test\nfail_if_all_match_regexp: ['127\\.0\\.0\\.1']", "every answer matches"},
		{"some answers do not match", "query_name: up.test\nfail_if_all_match_regexp: ['10\\.0\\.0\\.7']", ""},
		{"no AAAA", "query_name: up.test\nquery_type: AAAA\nfail_if_none_matches_regexp: ['.']", "no answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe(t, "server: "+srv+"\n"+tt.yaml+"\n")
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			case tt.fails != "" && (r.Unreachable || r.HostDown):
				t.Errorf("an answer counted against the server: %+v", r)
			}
		})
	}
}

// A server that does not answer is unreachable, evidence for its breaker.
func TestDNSServerDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() // bound, never answering
	p, addr, err := Kind.New(spectest.Block(t, "server: "+pc.LocalAddr().String()+"\nquery_name: up.test\n"), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	r := p.Probe(ctx, pulse.Target{Address: addr})
	if r.OK || !r.Unreachable || !r.HostDown {
		t.Fatalf("result %+v, want unreachable and host down", r)
	}
	if pulse.HostOf(addr) != "127.0.0.1" {
		t.Errorf("HostOf(%q) = %q, want the server", addr, pulse.HostOf(addr))
	}
}

// Without server, the system resolver's first nameserver is the one asked.
func TestDNSSystemResolver(t *testing.T) {
	srv := zone(t)
	host, _, _ := net.SplitHostPort(srv)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+host+"\noptions ndots:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := resolvConf
	resolvConf = conf
	t.Cleanup(func() { resolvConf = saved })
	_, addr, err := Kind.New(spectest.Block(t, "query_name: up.test\n"), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "dns://" + host + ":53/up.test"; addr != want {
		t.Errorf("address %q, want %q (the resolver's port is 53)", addr, want)
	}
}

func TestDNSConfigErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"server: 127.0.0.1", "line 1: query_name: required"},
		{"server: 127.0.0.1\nquery_name: 'bad..name'", "query_name: not a domain name"},
		{"server: 127.0.0.1\nquery_name: a.test\nquery_type: BOGUS", "line 3: query_type: unknown record type \"BOGUS\""},
		{"server: 127.0.0.1\nquery_name: a.test\ntransport: quic", "line 3: transport: must be udp or tcp"},
		{"server: 127.0.0.1\nquery_name: a.test\nvalid_rcodes: [FINE]", "valid_rcodes[0]: unknown response code \"FINE\""},
		{"server: 127.0.0.1\nquery_name: a.test\nfail_if_all_match_regexp: ['(']", "fail_if_all_match_regexp[0]: invalid regexp"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, tt.yaml+"\n"), kind.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
