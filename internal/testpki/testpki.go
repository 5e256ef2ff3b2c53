package testpki

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
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SelfSigned is a certificate for 127.0.0.1 named cn, valid until notAfter.
func SelfSigned(t testing.TB, cn string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := leaf(1, cn, notAfter, x509.ExtKeyUsageServerAuth)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// CA is a private certificate authority whose certificate is in CAFile,
// with a client certificate it signed in CertFile and KeyFile.
type CA struct {
	CAFile, CertFile, KeyFile string
	Pool                      *x509.CertPool

	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// NewCA makes a CA and a client certificate, as PEM files in a temporary
// directory.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Pool: x509.NewCertPool(), key: key, serial: 1}
	ca.cert, _ = x509.ParseCertificate(der)
	ca.Pool.AddCert(ca.cert)
	ca.CAFile = write(t, dir, "ca.pem", "CERTIFICATE", der)
	client := ca.Issue(t, "cpra-agent", x509.ExtKeyUsageClientAuth)
	ca.CertFile = write(t, dir, "client.pem", "CERTIFICATE", client.Certificate[0])
	kder, err := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ca.KeyFile = write(t, dir, "client-key.pem", "EC PRIVATE KEY", kder)
	return ca
}

// Issue signs a certificate for 127.0.0.1 named cn, for usage.
func (ca *CA) Issue(t testing.TB, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	ca.serial++
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, leaf(ca.serial, cn, time.Now().Add(90*24*time.Hour), usage), ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func leaf(serial int64, cn string, notAfter time.Time, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
}

func write(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
