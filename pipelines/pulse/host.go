package pulse

import "strings"

// HostOf returns the host part of a check address, as a substring of it (it
// does not allocate):
//
//	https://user:pw@Example.com:8443/x?y  Example.com
//	http://[::1]:80/                      ::1
//	db.internal:5432                      db.internal
//	[::1]:80                              ::1
//	10.0.0.1, ::1                         itself (a bare host, as icmp uses)
//	""                                    "" (scripts have no address)
//
// The host keeps its case and any percent-escapes of a URL: it is a key,
// not a name to resolve. The agent keys its per-host pulse circuit breakers
// by it, so every monitor of one host shares one breaker whatever its kind,
// port or path. Malformed input gives a best-effort substring, never a panic.
func HostOf(address string) string {
	s := AuthorityOf(address)
	if strings.HasPrefix(s, "[") {
		// A bracketed IPv6 literal, with or without a port.
		s = s[1:]
		if j := strings.IndexByte(s, ']'); j >= 0 {
			s = s[:j]
		}
		return s
	}
	// One colon separates a port; more make a bare IPv6 literal.
	if j := strings.IndexByte(s, ':'); j >= 0 && strings.LastIndexByte(s, ':') == j {
		s = s[:j]
	}
	return s
}

// AuthorityOf returns the host and port of a URL, without user
// information, or the address itself when it is not a URL, as a substring
// of it:
//
//	https://user:pw@Example.com:8443/x?y  Example.com:8443
//	http://[::1]/                         [::1]
//	db.internal:5432                      db.internal:5432
//
// One connection pool serves one authority: the per-host connection limits
// (package hostconns) are keyed by it.
func AuthorityOf(address string) string {
	s := address
	// The scheme ends at the first colon, when "//" follows it (an
	// IndexByte: this runs several times a check).
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.HasPrefix(s[i+1:], "//") {
		// A URL: the authority ends at the path, query or fragment, and
		// the host follows any userinfo.
		s = s[i+3:]
		if j := strings.IndexAny(s, "/?#"); j >= 0 {
			s = s[:j]
		}
		if j := strings.LastIndexByte(s, '@'); j >= 0 {
			s = s[j+1:]
		}
	}
	return s
}
