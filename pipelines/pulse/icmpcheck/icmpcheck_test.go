package icmpcheck

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

func newTestProber(t *testing.T, src string) (*prober, string) {
	t.Helper()
	p, addr, err := Kind.New(spectest.Block(t, src), kind.Deps{})
	if err != nil {
		t.Fatalf("New(%q): %v", src, err)
	}
	return p.(*prober), addr
}

// only restricts p to one socket type, skipping the test when this machine
// cannot open it.
func only(t *testing.T, p *prober, network, address, why string) {
	t.Helper()
	conn, err := icmp.ListenPacket(network, address)
	if err != nil {
		t.Skipf("cannot open a %s socket here (%s): %v", network, why, err)
	}
	_ = conn.Close()
	p.listen = func(n, a string) (*icmp.PacketConn, error) {
		if n != network {
			return nil, &net.OpError{Op: "listen", Net: n, Err: os.NewSyscallError("socket", syscall.EPERM)}
		}
		return icmp.ListenPacket(n, a)
	}
}

func pingGroupRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return "unknown"
	}
	return "net.ipv4.ping_group_range = " + strings.Join(strings.Fields(string(b)), " ")
}

// skipWithoutSocket skips when no ICMP socket of any type could be opened.
func skipWithoutSocket(t *testing.T, r pulse.Result) {
	t.Helper()
	if strings.HasPrefix(r.Reason, "cannot open an ICMP socket") {
		t.Skip(r.Reason)
	}
}

func probe(t *testing.T, p *prober, host string) pulse.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: host})
}

func TestKind(t *testing.T) {
	p, addr := newTestProber(t, "host: 127.0.0.1\nretries: 2")
	if addr != "127.0.0.1" || p.count != 3 || p.prefer6 {
		t.Errorf("address %q, prober %+v", addr, *p)
	}
	if Kind.Name != "icmp" || len(Kind.AddressKeys) != 1 || Kind.AddressKeys[0] != "host" {
		t.Errorf("Kind = %q %q", Kind.Name, Kind.AddressKeys)
	}
}

func TestProbeLoopback(t *testing.T) {
	tests := []string{
		"host: 127.0.0.1",
		"host: localhost\ncount: 2",
		"host: ::1\nip_protocol: ip6",
	}
	for _, src := range tests {
		t.Run(src, func(t *testing.T) {
			p, addr := newTestProber(t, src)
			got := probe(t, p, addr)
			skipWithoutSocket(t, got)
			if !got.OK || got.Unreachable {
				t.Errorf("Probe = %+v, want success", got)
			}
		})
	}
}

func TestProbeRawSocket(t *testing.T) {
	for _, tt := range []struct{ host, network, any string }{
		{"127.0.0.1", "ip4:icmp", "0.0.0.0"},
		{"::1", "ip6:ipv6-icmp", "::"},
	} {
		t.Run(tt.host, func(t *testing.T) {
			p, _ := newTestProber(t, "host: "+tt.host)
			only(t, p, tt.network, tt.any, "needs CAP_NET_RAW")
			if got := probe(t, p, tt.host); !got.OK {
				t.Errorf("Probe = %+v, want success", got)
			}
		})
	}
}

func TestProbeDatagramSocket(t *testing.T) {
	for _, tt := range []struct{ host, network, any string }{
		{"127.0.0.1", "udp4", "0.0.0.0"},
		{"::1", "udp6", "::"},
	} {
		t.Run(tt.host, func(t *testing.T) {
			p, _ := newTestProber(t, "host: "+tt.host)
			only(t, p, tt.network, tt.any, "the kernel forbids unprivileged ICMP to this group: "+pingGroupRange())
			if got := probe(t, p, tt.host); !got.OK {
				t.Errorf("Probe = %+v, want success", got)
			}
		})
	}
}

// Concurrent probes, each with its own socket, must each see their own reply;
// raw sockets see every reply on the machine.
func TestProbeConcurrent(t *testing.T) {
	p, addr := newTestProber(t, "host: 127.0.0.1")
	results := make([]pulse.Result, 20)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = probe(t, p, addr) })
	}
	wg.Wait()
	for i, r := range results {
		skipWithoutSocket(t, r)
		if !r.OK {
			t.Errorf("probe %d: %+v", i, r)
		}
	}
}

func TestProbeContextEnded(t *testing.T) {
	p, addr := newTestProber(t, "host: 127.0.0.1\ncount: 3")

	expired, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	got := p.Probe(expired, pulse.Target{Address: addr})
	skipWithoutSocket(t, got)
	if want := "timeout: no echo reply from 127.0.0.1 (0 pings sent)"; got.OK || got.Reason != want || !got.Unreachable {
		t.Errorf("expired: Probe = %+v, want an unreachable failure %q", got, want)
	}

	// A canceled check (the agent stopping) says nothing about the target.
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if got, want := p.Probe(canceled, pulse.Target{Address: addr}), "canceled: no echo reply from 127.0.0.1"; got.OK || got.Reason != want || got.Unreachable {
		t.Errorf("canceled: Probe = %+v, want %q, not unreachable", got, want)
	}
}

func TestProbeNoSocket(t *testing.T) {
	p, addr := newTestProber(t, "host: 127.0.0.1")
	p.listen = func(network, address string) (*icmp.PacketConn, error) {
		errno := syscall.EPERM
		if strings.HasPrefix(network, "udp") {
			errno = syscall.EACCES
		}
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("socket", errno)}
	}
	want := "cannot open an ICMP socket: unprivileged (udp4): permission denied; raw (ip4:icmp): operation not permitted; " +
		"let the agent's group send pings with sysctl net.ipv4.ping_group_range, or grant the agent CAP_NET_RAW"
	// A local problem: it says nothing about the target.
	if got := probe(t, p, addr); got.OK || got.Reason != want || got.Unreachable {
		t.Errorf("Probe = %+v\nwant reason %q, not unreachable", got, want)
	}
}

func TestResolveFailure(t *testing.T) {
	p, addr := newTestProber(t, "host: cpra-agent-test.-invalid")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	got := p.Probe(ctx, pulse.Target{Address: addr})
	if got.OK || !got.Unreachable || !strings.HasPrefix(got.Reason, "resolve cpra-agent-test.-invalid: ") {
		t.Errorf("Probe = %+v, want an unreachable resolve failure", got)
	}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if got := p.Probe(canceled, pulse.Target{Address: addr}); got.OK || got.Unreachable {
		t.Errorf("canceled: Probe = %+v, want a failure that is not unreachable", got)
	}
}

func TestUnroutable(t *testing.T) {
	sendErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", errno)}
	}
	tests := []struct {
		err  error
		want bool
	}{
		{sendErr(syscall.ENETUNREACH), true},
		{sendErr(syscall.EHOSTUNREACH), true},
		{sendErr(syscall.EHOSTDOWN), true},
		{sendErr(syscall.ENETDOWN), true},
		{sendErr(syscall.EPERM), false},  // a local firewall
		{sendErr(syscall.EACCES), false}, // a broadcast address
		{sendErr(syscall.ENOBUFS), false},
		{errors.New("no route to host"), false}, // only an errno counts
	}
	for _, tt := range tests {
		if got := unroutable(tt.err); got != tt.want {
			t.Errorf("unroutable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestResolvePrefersFamily(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		host    string
		prefer6 bool
		want    string
	}{
		{"127.0.0.1", true, "127.0.0.1"}, // a literal is used as it is
		{"::ffff:127.0.0.1", false, "127.0.0.1"},
		{"localhost", false, "127.0.0.1"},
	} {
		got, err := (&prober{prefer6: tt.prefer6}).resolve(ctx, tt.host)
		if err != nil || got.String() != tt.want {
			t.Errorf("resolve(%q) = %v, %v; want %s", tt.host, got, err, tt.want)
		}
	}
	// localhost may have no IPv6 entry: a preference falls back to the other family.
	if got, err := (&prober{prefer6: true}).resolve(ctx, "localhost"); err != nil || !got.IsLoopback() {
		t.Errorf("resolve(localhost) preferring ip6 = %v, %v", got, err)
	}
}

func TestIsReply(t *testing.T) {
	dst := netip.MustParseAddr("127.0.0.1")
	token := binary.BigEndian.AppendUint64(nil, 42)
	e := echo{fam: familyOf(dst), dst: dst, id: 7, token: token}
	from := &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}
	packet := func(typ icmp.Type, id, seq int, data []byte) []byte {
		b, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}).Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	reply := ipv4.ICMPTypeEchoReply
	tests := []struct {
		name     string
		b        []byte
		from     net.Addr
		datagram bool
		want     bool
	}{
		{"reply", packet(reply, 7, 2, token), from, false, true},
		{"our own request", packet(ipv4.ICMPTypeEcho, 7, 2, token), from, false, false},
		{"other identifier", packet(reply, 8, 2, token), from, false, false},
		{"other identifier, datagram socket", packet(reply, 31337, 2, token), &net.UDPAddr{IP: from.IP}, true, true},
		{"not sent yet", packet(reply, 7, 4, token), from, false, false},
		{"sequence zero", packet(reply, 7, 0, token), from, false, false},
		{"other payload", packet(reply, 7, 2, []byte("someone else")), from, false, false},
		{"other source", packet(reply, 7, 2, token), &net.IPAddr{IP: net.IPv4(127, 0, 0, 2)}, false, false},
		{"garbage", []byte{1, 2}, from, false, false},
	}
	for _, tt := range tests {
		e.datagram = tt.datagram
		if got := e.isReply(tt.b, tt.from, 3); got != tt.want {
			t.Errorf("%s: isReply = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "line 1: host: required"},
		{"blank host", `host: " "`, "line 1: host: required"},
		{"count zero", "host: a\ncount: 0", "line 2: count: must be between 1 and 100, got 0"},
		{"count too big", "host: a\ncount: 1000", "line 2: count: must be between 1 and 100, got 1000"},
		{"negative retries", "host: a\nretries: -1", "line 2: retries: must be between 0 and 99, got -1"},
		{"count and retries", "host: a\ncount: 2\nretries: 1", "line 3: retries: cannot be combined with count (retries: N means count: N+1)"},
		{"ip protocol", "host: a\nip_protocol: ipv4", `line 2: ip_protocol: must be ip4 or ip6, got "ipv4"`},
		{"unknown key", "host: a\nignore_privilege: true", "line 2: ignore_privilege: unknown field (known: count, host, ip_protocol, retries)"},
		{
			"every problem at once",
			"count: -1\nip_protocol: tcp",
			"line 1: host: required\nline 1: count: must be between 1 and 100, got -1\nline 2: ip_protocol: must be ip4 or ip6, got \"tcp\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, tt.src), kind.Deps{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v\nwant %q", err, tt.want)
			}
		})
	}
}
