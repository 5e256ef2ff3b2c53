package tcpcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/pipelines/spec"
)

// Kind registers the tcp check.
var Kind = pulse.Kind{
	Name:        "tcp",
	AddressKeys: []string{"host", "port", "address"},
	New:         newProber,
}

type config struct {
	Host    string `yaml:"host"`
	Port    string `yaml:"port"` // a string so that both 5432 and "5432" decode
	Address string `yaml:"address"`
	Retries int    `yaml:"retries"`
}

func newProber(b spec.Block, _ kind.Deps) (pulse.Prober, string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, "", err
	}
	addr, errs := address(b, c)
	if c.Retries < 0 {
		errs = append(errs, b.Errorf("retries", "must be 0 or more, got %d", c.Retries))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return &prober{retries: c.Retries}, addr, nil
}

// address validates either form of the target and returns it as host:port.
func address(b spec.Block, c config) (string, []error) {
	if b.Has("address") {
		if b.Has("host") || b.Has("port") {
			return "", []error{b.Errorf("address", "cannot be combined with host and port; use one form")}
		}
		host, port, err := net.SplitHostPort(c.Address)
		if err != nil {
			return "", []error{b.Errorf("address", "must be host:port, got %q", c.Address)}
		}
		if host == "" {
			return "", []error{b.Errorf("address", "host is empty in %q", c.Address)}
		}
		port, err = checkPort(port)
		if err != nil {
			return "", []error{b.Errorf("address", "port %v", err)}
		}
		return net.JoinHostPort(host, port), nil
	}

	var errs []error
	// Accept a bracketed IPv6 literal as written in URLs.
	host := c.Host
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	switch {
	case host == "":
		errs = append(errs, b.Errorf("host", "required (or set address)"))
	case strings.Contains(host, ":") && !isIP(host):
		errs = append(errs, b.Errorf("host", "must be a host name or IP address without a port, got %q", c.Host))
	}
	port, err := checkPort(c.Port)
	if !b.Has("port") || c.Port == "" {
		errs = append(errs, b.Errorf("port", "required (or set address)"))
	} else if err != nil {
		errs = append(errs, b.Errorf("port", "%v", err))
	}
	if len(errs) > 0 {
		return "", errs
	}
	return net.JoinHostPort(host, port), nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkPort returns the port in canonical form ("080" becomes "80").
func checkPort(s string) (string, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return "", fmt.Errorf("must be a number between 1 and 65535, got %q", s)
	}
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("must be between 1 and 65535, got %d", n)
	}
	return strconv.Itoa(n), nil
}

type prober struct {
	retries int
}

// Probe makes up to 1+retries connection attempts within ctx's deadline.
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
		_ = conn.Close() // nothing was sent; a close error says nothing about the target
		return pulse.Result{OK: true}
	})
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
