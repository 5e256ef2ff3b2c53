package grpccheck

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/internal/testpki"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// healthServer runs a gRPC server with the standard health service on
// loopback: "orders" SERVING, "billing" NOT_SERVING, the server SERVING.
func healthServer(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func probe(t *testing.T, yaml string) pulse.Result {
	t.Helper()
	p, addr, err := Kind.New(spectest.Block(t, yaml), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: addr})
}

func TestGRPCHealth(t *testing.T) {
	plain := healthServer(t)
	later := time.Now().Add(60 * 24 * time.Hour)
	secure := healthServer(t, grpc.Creds(credentials.NewServerTLSFromCert(func() *tls.Certificate { c := testpki.SelfSigned(t, "orders.test", later); return &c }())))
	expiring := healthServer(t, grpc.Creds(credentials.NewServerTLSFromCert(func() *tls.Certificate {
		c := testpki.SelfSigned(t, "orders.test", time.Now().Add(48*time.Hour))
		return &c
	}())))
	bare := func() string { // a gRPC server without the health service
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s := grpc.NewServer()
		go func() { _ = s.Serve(ln) }()
		t.Cleanup(s.Stop)
		return ln.Addr().String()
	}()
	tests := []struct {
		name, yaml, fails string
		unreachable       bool
	}{
		{"server serving", "address: " + plain, "", false},
		{"service serving", "address: " + plain + "\nservice: orders", "", false},
		{"service not serving", "address: " + plain + "\nservice: billing", "billing is NOT_SERVING", false},
		{"unknown service", "address: " + plain + "\nservice: nope", "unknown service nope", false},
		{"no health service", "address: " + bare, "does not implement grpc.health.v1.Health", false},
		{"TLS", "address: " + secure + "\ntls: true\ntls_config: {insecure_skip_verify: true}", "", false},
		{"TLS expiring", "address: " + expiring + "\ntls: true\ntls_config: {insecure_skip_verify: true}", `certificate "orders.test" expires`, false},
		{"plaintext to a TLS server", "address: " + secure, "Unavailable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe(t, tt.yaml+"\n")
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			case r.Unreachable != tt.unreachable:
				t.Errorf("unreachable = %v, want %v: %s", r.Unreachable, tt.unreachable, r.Reason)
			}
		})
	}
}

func TestGRPCConfigErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"service: x", "line 1: host: required (or set address)"},
		{"address: 127.0.0.1", "address: must be host:port"},
		{"host: a\nport: 0", "port: must be between 1 and 65535, got 0"},
		{"address: 127.0.0.1:1\ntls_config: {server_name: x}", "tls_config: needs tls: true"},
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
