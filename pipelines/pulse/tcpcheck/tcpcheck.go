package tcpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kind registers the tcp check.
var Kind = pulse.Kind{
	Name:        "tcp",
	AddressKeys: []string{"host", "port", "address"},
	Parse:       parseProber,
}

// TLSKind registers the tls check: connect, TLS handshake, the chain
// verified (unless tls_config.insecure_skip_verify) and its expiry
// checked, for TLS services that are not HTTP.
var TLSKind = pulse.Kind{
	Name:        "tls",
	AddressKeys: []string{"host", "port", "address"},
	Parse:       parseTLSProber,
}

type config struct {
	Host    string `yaml:"host"`
	Port    string `yaml:"port"` // a string so that both 5432 and "5432" decode
	Address string `yaml:"address"`
	Retries int    `yaml:"retries"`

	TLS              bool           `yaml:"tls"` // the tcp kind: TLS from the first byte
	TLSConfig        certs.Config   `yaml:"tls_config"`
	TLSExpiryWarning *spec.Duration `yaml:"tls_expiry_warning"`
	QueryResponse    []rawStep      `yaml:"query_response"`
}

func parseProber(b spec.Block) (any, string, error) {
	return parse(b, false)
}

func parseTLSProber(b spec.Block) (any, string, error) {
	return parse(b, true)
}

// build validates a tcp or tls block.
func parse(b spec.Block, tlsKind bool) (any, string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, "", err
	}
	if tlsKind && b.Has("tls") {
		return nil, "", b.Errorf("tls", "not a key of the tls check: it always speaks TLS")
	}
	addr, errs := pulse.HostPort(b, c.Host, c.Port, c.Address)
	if c.Retries < 0 {
		errs = append(errs, b.Errorf("retries", "must be 0 or more, got %d", c.Retries))
	}
	steps, serr := parseSteps(b, c.QueryResponse)
	errs = append(errs, serr...)
	if tlsKind && len(c.QueryResponse) > 0 {
		errs = append(errs, b.Errorf("query_response", "not a key of the tls check; use a tcp check with tls: true"))
	}
	tlsBase, err := c.TLSConfig.Build(b)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return &prober{retries: c.Retries, tls: c.TLS || tlsKind, tlsBase: tlsBase,
		warning: certs.Warning(c.TLSExpiryWarning), steps: steps}, addr, nil
}

type prober struct {
	retries int
	tls     bool          // handshake right after connecting
	tlsBase *tls.Config   // from tls_config; the server name is the host's unless set
	warning time.Duration // tls_expiry_warning
	steps   []step        // query_response
}

// Probe makes up to 1+retries attempts within ctx's deadline.
func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	var d net.Dialer
	return pulse.Retry(ctx, p.retries, func(ctx context.Context) pulse.Result {
		conn, err := d.DialContext(ctx, "tcp", t.Address)
		if err != nil {
			// Every dial error means the target did not answer, except the
			// agent canceling the check. A refused or reset connection is
			// the host answering for a closed port: only no answer at all
			// says the host is down.
			return pulse.Result{Reason: describe(t.Address, err), Unreachable: !canceled(err), HostDown: !canceled(err) && pulse.HostDownError(err)}
		}
		if !p.tls && len(p.steps) == 0 {
			_ = conn.Close() // nothing was sent; a close error says nothing about the target
			return pulse.Result{OK: true}
		}
		defer conn.Close()
		if deadline, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(deadline)
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // cancellation too
		defer stop()
		return p.converse(ctx, conn, t.Address)
	})
}

// converse runs the TLS handshake and the query_response dialogue on conn.
func (p *prober) converse(ctx context.Context, conn net.Conn, address string) pulse.Result {
	var expiry int64
	fail := func(format string, args ...any) pulse.Result {
		r := pulse.Failf(format, args...)
		r.CertExpiry = expiry
		if ctx.Err() != nil {
			r.Reason += " (" + describe(address, ctx.Err()) + ")"
		}
		return r
	}
	handshake := func() (*tls.Conn, string) {
		host, _, _ := net.SplitHostPort(address)
		tc := tls.Client(conn, certs.For(p.tlsBase, host))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, "TLS handshake: " + err.Error()
		}
		cs := tc.ConnectionState()
		earliest, failure := certs.Expiry(&cs, p.warning, time.Now())
		expiry = certs.Unix(earliest)
		return tc, failure
	}
	if p.tls {
		tc, failure := handshake()
		if tc == nil {
			r := fail("%s", failure)
			r.Unreachable = true // the server never completed a TLS answer
			return r
		}
		if failure != "" {
			return fail("%s", failure)
		}
		conn = tc
	}
	r := bufio.NewReader(conn)
	for i, s := range p.steps {
		switch {
		case s.expect != nil:
			if line, err := expect(r, s.expect); err != nil {
				return fail("query_response[%d]: expected %q: %v%s", i, s.expect, err, lastLine(line))
			}
		case s.startTLS:
			tc, failure := handshake()
			if tc == nil {
				return fail("query_response[%d]: STARTTLS: %s", i, failure)
			}
			if failure != "" {
				return fail("%s", failure)
			}
			conn, r = tc, bufio.NewReader(tc)
		}
		if s.send != "" {
			if _, err := io.WriteString(conn, s.send+"\n"); err != nil {
				return fail("query_response[%d]: send: %v", i, err)
			}
		}
	}
	return pulse.Result{OK: true, CertExpiry: expiry}
}

// canceled reports whether err is the context's cancellation rather than
// its deadline, which is a timeout.
func canceled(err error) bool {
	return errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// describe turns a dial error into a short reason; the Go error repeats the
// network and addresses ("dial tcp 127.0.0.1:9: connect: connection refused").
func describe(addr string, err error) string {
	var dnsErr *net.DNSError
	var errno syscall.Errno
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case canceled(err):
		return fmt.Sprintf("connect %s: canceled", addr)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("connect %s: timeout", addr)
	case errors.As(err, &errno):
		return fmt.Sprintf("connect %s: %s", addr, errno.Error())
	}
	return fmt.Sprintf("connect %s: %v", addr, err)
}
