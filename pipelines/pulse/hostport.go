package pulse

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// HostPort validates the target of a check that connects to host:port,
// given either as `host` and `port` (as the original file format writes
// it) or as `address: host:port`, and returns it as host:port ("080"
// becomes "80"; a bracketed IPv6 host loses its brackets).
func HostPort(b spec.Block, host, port, address string) (string, []error) {
	if b.Has("address") {
		if b.Has("host") || b.Has("port") {
			return "", []error{b.Errorf("address", "cannot be combined with host and port; use one form")}
		}
		h, p, err := net.SplitHostPort(address)
		if err != nil {
			return "", []error{b.Errorf("address", "must be host:port, got %q", address)}
		}
		if h == "" {
			return "", []error{b.Errorf("address", "host is empty in %q", address)}
		}
		p, err = checkPort(p)
		if err != nil {
			return "", []error{b.Errorf("address", "port %v", err)}
		}
		return net.JoinHostPort(h, p), nil
	}

	var errs []error
	// Accept a bracketed IPv6 literal as written in URLs.
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	switch {
	case h == "":
		errs = append(errs, b.Errorf("host", "required (or set address)"))
	case strings.Contains(h, ":") && !isIP(h):
		errs = append(errs, b.Errorf("host", "must be a host name or IP address without a port, got %q", host))
	}
	canon, err := checkPort(port)
	if !b.Has("port") || port == "" {
		errs = append(errs, b.Errorf("port", "required (or set address)"))
	} else if err != nil {
		errs = append(errs, b.Errorf("port", "%v", err))
	}
	if len(errs) > 0 {
		return "", errs
	}
	return net.JoinHostPort(h, canon), nil
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
