package httpcheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a CA and what it signed, written as PEM files.
type pki struct {
	dir      string
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	pool     *x509.CertPool
	serial   int64
	caFile   string
	certFile string // a client certificate
	keyFile  string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey, p.serial = key, 1
	p.pool.AddCert(p.ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	client := p.issue(t, "cpra-agent", x509.ExtKeyUsageClientAuth)
	p.certFile = p.write(t, "client.pem", "CERTIFICATE", client.Certificate[0])
	kder, _ := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	p.keyFile = p.write(t, "client-key.pem", "EC PRIVATE KEY", kder)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	p.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tls_config as Prometheus writes it: a private CA verifies the server
// (no insecure_skip_verify), and a client certificate passes mutual TLS.
func TestTLSConfigFiles(t *testing.T) {
	p := newPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.issue(t, "api.internal", x509.ExtKeyUsageServerAuth)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tests := []struct{ name, yaml, fails string }{
		{"CA and client certificate", "tls_config: {ca_file: " + p.caFile + ", cert_file: " + p.certFile + ", key_file: " + p.keyFile + "}", ""},
		{"CA, no client certificate", "tls_config: {ca_file: " + p.caFile + "}", "certificate required"},
		{"system CAs only", "tls_config: {cert_file: " + p.certFile + ", key_file: " + p.keyFile + "}", "certificate signed by unknown authority"},
		{"TLS 1.3 at least", "tls_config: {ca_file: " + p.caFile + ", cert_file: " + p.certFile + ", key_file: " + p.keyFile + ", min_version: TLS13}", ""},
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
