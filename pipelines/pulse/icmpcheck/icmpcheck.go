package icmpcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kind registers the icmp check.
var Kind = pulse.Kind{
	Name:        "icmp",
	AddressKeys: []string{"host"},
	Parse:       parseProber,
}

// maxCount keeps a check from flooding its target: pings are spread over the
// timeout, so a large count means a small interval.
const maxCount = 100

// defaultWait is how long each ping waits when the context has no deadline.
// The pulse pipeline always sets one; this only keeps Probe from blocking.
const defaultWait = time.Second

type config struct {
	Host       string `yaml:"host"`
	Count      int    `yaml:"count"`
	Retries    int    `yaml:"retries"`
	IPProtocol string `yaml:"ip_protocol"`
}

func parseProber(b spec.Block) (any, string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, "", err
	}
	var errs []error
	if strings.TrimSpace(c.Host) == "" {
		errs = append(errs, b.Errorf("host", "required"))
	}
	count := 1
	switch {
	case b.Has("count") && b.Has("retries"):
		errs = append(errs, b.Errorf("retries", "cannot be combined with count (retries: N means count: N+1)"))
	case b.Has("count"):
		if c.Count < 1 || c.Count > maxCount {
			errs = append(errs, b.Errorf("count", "must be between 1 and %d, got %d", maxCount, c.Count))
		}
		count = c.Count
	case b.Has("retries"):
		if c.Retries < 0 || c.Retries >= maxCount {
			errs = append(errs, b.Errorf("retries", "must be between 0 and %d, got %d", maxCount-1, c.Retries))
		}
		count = c.Retries + 1
	}
	prefer := c.IPProtocol
	switch prefer {
	case "":
		prefer = "ip4"
	case "ip4", "ip6":
	default:
		errs = append(errs, b.Errorf("ip_protocol", "must be ip4 or ip6, got %q", c.IPProtocol))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return &prober{count: count, prefer6: prefer == "ip6", listen: icmp.ListenPacket}, c.Host, nil
}

type prober struct {
	count   int
	prefer6 bool
	// listen opens ICMP sockets; tests replace it to force one socket type.
	listen func(network, address string) (*icmp.PacketConn, error)
}

func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	r := p.ping(ctx, t)
	// A ping has no ports: no answer at all is the host down.
	r.HostDown = r.Unreachable
	return r
}

func (p *prober) ping(ctx context.Context, t pulse.Target) pulse.Result {
	dst, err := p.resolve(ctx, t.Address)
	if err != nil {
		res := pulse.Failf("resolve %s: %s", t.Address, short(err))
		res.Unreachable = !errors.Is(ctx.Err(), context.Canceled)
		return res
	}
	fam := familyOf(dst)
	conn, datagram, err := p.open(fam)
	if err != nil {
		// A local problem (privilege): it says nothing about the target.
		return pulse.Result{Reason: err.Error()}
	}
	defer conn.Close()
	// Closing the socket unblocks a read when ctx is canceled.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Duration(p.count) * defaultWait)
	}
	interval := time.Until(deadline) / time.Duration(p.count)
	e := echo{
		fam:      fam,
		dst:      dst,
		datagram: datagram,
		id:       rand.IntN(1 << 16),
		token:    binary.BigEndian.AppendUint64(nil, rand.Uint64()),
	}
	target := t.Address
	if target != dst.String() {
		target += " (" + dst.String() + ")"
	}

	buf := make([]byte, 1500)
	sent := 0
	for seq := 1; seq <= p.count && interval > 0 && ctx.Err() == nil; seq++ {
		if err := e.send(conn, seq); err != nil {
			if ctx.Err() != nil {
				break
			}
			res := pulse.Failf("send to %s: %s", target, short(err))
			res.Unreachable = unroutable(err)
			return res
		}
		sent = seq
		wait := time.Now().Add(interval)
		if seq == p.count || wait.After(deadline) {
			wait = deadline
		}
		if err := conn.SetReadDeadline(wait); err != nil {
			if ctx.Err() != nil {
				break // the socket was closed as ctx ended
			}
			return pulse.Failf("receive from %s: %s", target, short(err))
		}
		got, err := e.await(conn, buf, seq)
		if got {
			return pulse.Result{OK: true}
		}
		if err != nil && ctx.Err() == nil {
			// An ICMP error in place of the reply, such as host unreachable.
			return pulse.Unreachablef("receive from %s: %s", target, short(err))
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return pulse.Failf("canceled: no echo reply from %s", target)
	}
	return pulse.Unreachablef("timeout: no echo reply from %s (%s sent)", target, plural(sent, "ping"))
}

// resolve returns the address to ping, preferring the configured family.
func (p *prober) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	var other netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is6() == p.prefer6 {
			return ip, nil
		}
		if !other.IsValid() {
			other = ip
		}
	}
	if !other.IsValid() {
		return netip.Addr{}, errors.New("no addresses")
	}
	return other, nil
}

// family holds what differs between ICMP for IPv4 and for IPv6.
type family struct {
	datagram, raw string // networks for icmp.ListenPacket
	any           string // address to listen on
	proto         int    // IANA protocol number, for icmp.ParseMessage
	request       icmp.Type
	reply         icmp.Type
}

func familyOf(ip netip.Addr) family {
	if ip.Is4() {
		return family{"udp4", "ip4:icmp", "0.0.0.0", 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply}
	}
	return family{"udp6", "ip6:ipv6-icmp", "::", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply}
}

// open returns an ICMP socket, preferring an unprivileged datagram socket to
// a raw one, and reports which it got.
func (p *prober) open(f family) (*icmp.PacketConn, bool, error) {
	conn, dgramErr := p.listen(f.datagram, f.any)
	if dgramErr == nil {
		return conn, true, nil
	}
	conn, rawErr := p.listen(f.raw, f.any)
	if rawErr == nil {
		return conn, false, nil
	}
	return nil, false, fmt.Errorf("cannot open an ICMP socket: unprivileged (%s): %s; raw (%s): %s; "+
		"let the agent's group send pings with sysctl net.ipv4.ping_group_range, or grant the agent CAP_NET_RAW",
		f.datagram, short(dgramErr), f.raw, short(rawErr))
}

// echo is one probe's pings.
type echo struct {
	fam      family
	dst      netip.Addr
	datagram bool
	id       int
	token    []byte // random payload, so that only our own replies match
}

func (e echo) send(conn *icmp.PacketConn, seq int) error {
	msg := icmp.Message{Type: e.fam.request, Body: &icmp.Echo{ID: e.id, Seq: seq, Data: e.token}}
	// For IPv6 the kernel fills in the checksum, so no pseudo-header is needed.
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	ip := net.IP(e.dst.AsSlice())
	var to net.Addr = &net.IPAddr{IP: ip, Zone: e.dst.Zone()}
	if e.datagram {
		to = &net.UDPAddr{IP: ip, Zone: e.dst.Zone()}
	}
	_, err = conn.WriteTo(b, to)
	return err
}

// await reads until a reply to one of the first sent pings arrives (true) or
// the read deadline passes (false, nil).
func (e echo) await(conn *icmp.PacketConn, buf []byte, sent int) (bool, error) {
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				return false, nil
			}
			return false, err
		}
		if e.isReply(buf[:n], from, sent) {
			return true, nil
		}
	}
}

func (e echo) isReply(b []byte, from net.Addr, sent int) bool {
	msg, err := icmp.ParseMessage(e.fam.proto, b)
	if err != nil || msg.Type != e.fam.reply {
		return false
	}
	body, ok := msg.Body.(*icmp.Echo)
	if !ok || body.Seq < 1 || body.Seq > sent || !bytes.Equal(body.Data, e.token) {
		return false
	}
	if e.datagram {
		// The kernel chose the identifier and routes only our replies here.
		return true
	}
	return body.ID == e.id && sourceIP(from) == e.dst.WithZone("")
}

func sourceIP(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// unroutable reports whether a send error is the kernel finding no way to
// the target, as opposed to a local refusal (a firewall's EPERM, EACCES for
// a broadcast address) that says nothing about the target.
func unroutable(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN:
		return true
	}
	return false
}

// short reduces socket and resolver errors to their cause: "permission
// denied" rather than "listen ip4:icmp 0.0.0.0: socket: permission denied".
func short(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
