package pulse

import "testing"

func TestHostOf(t *testing.T) {
	tests := []struct {
		address, want string
	}{
		// URLs, as the http kind's address.
		{"https://user:pw@Example.com:8443/x?y", "Example.com"},
		{"http://example.com", "example.com"},
		{"http://example.com/", "example.com"},
		{"http://example.com?q=1", "example.com"},
		{"http://example.com#top", "example.com"},
		{"http://example.com:8080", "example.com"},
		{"http://user@example.com/", "example.com"},
		{"http://u:p@ss@example.com/", "example.com"}, // the last @ ends the userinfo, as in net/url
		{"http://[::1]:80/", "::1"},
		{"http://[::1]/health", "::1"},
		{"http://[fe80::1%25eth0]:80/", "fe80::1%25eth0"},
		{"http://10.0.0.1:8080/health", "10.0.0.1"},
		// host:port, as the tcp kind's address.
		{"db.internal:5432", "db.internal"},
		{"10.0.0.1:22", "10.0.0.1"},
		{"[::1]:80", "::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		// Bare hosts, as the icmp kind's address.
		{"10.0.0.1", "10.0.0.1"},
		{"gateway.internal", "gateway.internal"},
		{"::1", "::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"[::1]", "::1"},
		// Scripts have no address.
		{"", ""},
		// Malformed input: a substring, never a panic.
		{"[::1", "::1"},
		{"http://", ""},
		{"http://@/", ""},
		{":80", ""},
		{"[", ""},
	}
	for _, tt := range tests {
		if got := HostOf(tt.address); got != tt.want {
			t.Errorf("HostOf(%q) = %q, want %q", tt.address, got, tt.want)
		}
	}
}

// sink keeps the compiler from discarding HostOf's result.
var sink string

func TestHostOfDoesNotAllocate(t *testing.T) {
	for _, address := range []string{
		"https://user:pw@Example.com:8443/x?y",
		"http://[::1]:80/",
		"db.internal:5432",
		"[::1]:80",
		"::1",
	} {
		if n := testing.AllocsPerRun(100, func() { sink = HostOf(address) }); n != 0 {
			t.Errorf("HostOf(%q) allocates %v times, want 0", address, n)
		}
	}
}

func TestAuthorityOf(t *testing.T) {
	for in, want := range map[string]string{
		"http://api.example:8080/health?x=1": "api.example:8080",
		"https://user:pw@[::1]:443/":         "[::1]:443",
		"http://host":                        "host",
		"http://host?q#f":                    "host",
		"db:5432":                            "db:5432",
	} {
		if got := AuthorityOf(in); got != want {
			t.Errorf("AuthorityOf(%q) = %q, want %q", in, got, want)
		}
	}
}
