package tcpcheck

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// listen starts a TCP listener on a loopback address and returns its port.
// The kernel completes connections into the backlog, so nothing accepts.
func listen(t *testing.T, network, addr string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// closedPort returns a loopback port that nothing listens on (as far as
// anyone can tell: it was free a moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func probe(t *testing.T, ctx context.Context, src string) (pulse.Result, string) {
	t.Helper()
	p, addr, err := Kind.New(spectest.Block(t, src), kind.Deps{})
	if err != nil {
		t.Fatalf("New(%q): %v", src, err)
	}
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: addr}), addr
}

func TestProbeSuccess(t *testing.T) {
	port := listen(t, "tcp", "127.0.0.1:0")
	port6 := listen(t, "tcp6", "[::1]:0")
	tests := []struct {
		src, wantAddr string
	}{
		{"host: 127.0.0.1\nport: " + port, "127.0.0.1:" + port},
		{"host: 127.0.0.1\nport: \"" + port + "\"", "127.0.0.1:" + port},
		{"address: 127.0.0.1:" + port, "127.0.0.1:" + port},
		{"host: localhost\nport: " + port + "\nretries: 1", "localhost:" + port},
		{"host: ::1\nport: " + port6, "[::1]:" + port6},
		{"host: \"[::1]\"\nport: " + port6, "[::1]:" + port6},
		{"address: \"[::1]:" + port6 + "\"", "[::1]:" + port6},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		got, addr := probe(t, ctx, tt.src)
		cancel()
		if addr != tt.wantAddr {
			t.Errorf("%q: address = %q, want %q", tt.src, addr, tt.wantAddr)
		}
		if !got.OK || got.Unreachable {
			t.Errorf("%q: Probe = %+v, want success", tt.src, got)
		}
	}
}

func TestProbeRefused(t *testing.T) {
	port := closedPort(t)
	tests := []struct {
		src, want string
	}{
		{"host: 127.0.0.1\nport: " + port, "connect 127.0.0.1:" + port + ": connection refused"},
		{"address: 127.0.0.1:" + port + "\nretries: 2", "connect 127.0.0.1:" + port + ": connection refused (3 attempts)"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		got, _ := probe(t, ctx, tt.src)
		cancel()
		if got.OK || got.Reason != tt.want || !got.Unreachable {
			t.Errorf("%q: Probe = %+v, want an unreachable failure with reason %q", tt.src, got, tt.want)
		}
	}
}

// Retries stop when the deadline leaves no room for another attempt.
func TestProbeRetriesHonourDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	got, addr := probe(t, ctx, "address: 127.0.0.1:"+closedPort(t)+"\nretries: 100000")
	if got.OK || !strings.HasPrefix(got.Reason, "connect "+addr+": connection refused") {
		t.Errorf("Probe = %+v, want refused", got)
	}
}

func TestProbeContextEnded(t *testing.T) {
	src := "address: 127.0.0.1:" + listen(t, "tcp", "127.0.0.1:0")

	expired, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	if got, addr := probe(t, expired, src); got.OK || got.Reason != "connect "+addr+": timeout" || !got.Unreachable {
		t.Errorf("expired context: Probe = %+v, want an unreachable timeout", got)
	}

	// A canceled check (the agent stopping) says nothing about the target.
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if got, addr := probe(t, canceled, src); got.OK || got.Reason != "connect "+addr+": canceled" || got.Unreachable {
		t.Errorf("canceled context: Probe = %+v, want canceled, not unreachable", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "line 1: host: required (or set address)\nline 1: port: required (or set address)"},
		{"port out of range", "host: 127.0.0.1\n\nport: 70000", "line 3: port: must be between 1 and 65535, got 70000"},
		{"port zero", "host: 127.0.0.1\nport: 0", "line 2: port: must be between 1 and 65535, got 0"},
		{"port name", "host: 127.0.0.1\nport: http", `line 2: port: must be a number between 1 and 65535, got "http"`},
		{"missing port", "host: 127.0.0.1", "line 1: port: required (or set address)"},
		{"missing host", "port: 80", "line 1: host: required (or set address)"},
		{"host with port", "host: example.com:80\nport: 80", `line 1: host: must be a host name or IP address without a port, got "example.com:80"`},
		{"both forms", "host: 127.0.0.1\naddress: 127.0.0.1:80", "line 2: address: cannot be combined with host and port; use one form"},
		{"address without port", "address: 127.0.0.1", `line 1: address: must be host:port, got "127.0.0.1"`},
		{"address without host", "address: :80", `line 1: address: host is empty in ":80"`},
		{"address port out of range", "address: 127.0.0.1:70000", "line 1: address: port must be between 1 and 65535, got 70000"},
		{"negative retries", "address: 127.0.0.1:80\nretries: -1", "line 2: retries: must be 0 or more, got -1"},
		{"unknown key", "address: 127.0.0.1:80\ntimeout: 1s", "line 2: timeout: unknown field (known: address, host, port, query_response, retries, tls, tls_config, tls_expiry_warning)"},
		{"retries not a number", "address: 127.0.0.1:80\nretries: many", `line 2: retries: expected an integer value, got "many"`},
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

// TestUnreachable: an open listener answers, a closed port or a name that
// does not resolve does not.
func TestUnreachable(t *testing.T) {
	tests := []struct {
		name, src string
		want      pulse.Result
	}{
		{"open listener", "address: 127.0.0.1:" + listen(t, "tcp", "127.0.0.1:0"), pulse.Result{OK: true}},
		{"closed port", "address: 127.0.0.1:" + closedPort(t), pulse.Result{Unreachable: true}},
		{"closed port after retries", "address: 127.0.0.1:" + closedPort(t) + "\nretries: 1", pulse.Result{Unreachable: true}},
		{"name does not resolve", "host: cpra-agent-test.-invalid\nport: 80", pulse.Result{Unreachable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			got, _ := probe(t, ctx, tt.src)
			if got.OK != tt.want.OK || got.Unreachable != tt.want.Unreachable {
				t.Errorf("Probe = %+v, want OK=%v Unreachable=%v", got, tt.want.OK, tt.want.Unreachable)
			}
		})
	}
}
