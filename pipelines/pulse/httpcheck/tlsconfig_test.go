package httpcheck

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/testpki"
)

// tls_config as Prometheus writes it: a private CA verifies the server
// (no insecure_skip_verify), and a client certificate passes mutual TLS.
func TestTLSConfigFiles(t *testing.T) {
	ca := testpki.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "api.internal", x509.ExtKeyUsageServerAuth)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tests := []struct{ name, yaml, fails string }{
		{"CA and client certificate", "tls_config: {ca_file: " + ca.CAFile + ", cert_file: " + ca.CertFile + ", key_file: " + ca.KeyFile + "}", ""},
		{"CA, no client certificate", "tls_config: {ca_file: " + ca.CAFile + "}", "certificate required"},
		{"system CAs only", "tls_config: {cert_file: " + ca.CertFile + ", key_file: " + ca.KeyFile + "}", "certificate signed by unknown authority"},
		{"TLS 1.3 at least", "tls_config: {ca_file: " + ca.CAFile + ", cert_file: " + ca.CertFile + ", key_file: " + ca.KeyFile + ", min_version: TLS13}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, _ := newFromYAML(t, "url: "+srv.URL+"\n"+tt.yaml+"\n")
			r := probe(t, pr, srv.URL)
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			}
		})
	}
}
