package certs

import (
	"crypto/tls"
	"fmt"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// DefaultExpiryWarning is how close to its expiry a certificate fails a
// check, unless tls_expiry_warning says otherwise.
const DefaultExpiryWarning = 14 * 24 * time.Hour

// Config is the tls_config block, as Prometheus's TLSConfig writes it.
type Config struct {
	CAFile             string `yaml:"ca_file"`   // CAs to verify the server with, instead of the system's
	CertFile           string `yaml:"cert_file"` // client certificate, with key_file
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	MinVersion         string `yaml:"min_version"` // TLS10 … TLS13
}

// Build validates c and returns the client configuration, with the CA
// file loaded and the client certificate read at each handshake (so a
// rotated one applies). b locates errors at the tls_config key.
func (c Config) Build(b spec.Block) (*tls.Config, error) {
	pc := promconfig.TLSConfig{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
		ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.MinVersion != "" {
		v, ok := promconfig.TLSVersions[c.MinVersion]
		if !ok {
			return nil, spec.Prefix("tls_config", b.Sub("tls_config").Errorf("min_version", "must be TLS10, TLS11, TLS12 or TLS13, got %q", c.MinVersion))
		}
		pc.MinVersion = v
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, b.Errorf("tls_config", "cert_file and key_file go together")
	}
	cfg, err := promconfig.NewTLSConfig(&pc)
	if err != nil {
		return nil, b.Errorf("tls_config", "%v", err)
	}
	return cfg, nil
}

// For is base for a connection to host: its server name is host unless
// the configuration names one.
func For(base *tls.Config, host string) *tls.Config {
	cfg := base.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// Warning reads tls_expiry_warning: DefaultExpiryWarning when unset, and
// 0s turns the check off.
func Warning(d *spec.Duration) time.Duration {
	if d == nil {
		return DefaultExpiryWarning
	}
	return d.Std()
}

// Expiry returns when the earliest certificate of the chain the server
// sent expires (zero without one), and a failure when that is within
// warning of now, naming the certificate and the date.
func Expiry(cs *tls.ConnectionState, warning time.Duration, now time.Time) (earliest time.Time, failure string) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return time.Time{}, ""
	}
	first := cs.PeerCertificates[0]
	for _, c := range cs.PeerCertificates {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	earliest = first.NotAfter
	if left := earliest.Sub(now); left < warning {
		name := first.Subject.CommonName
		if name == "" {
			name = first.Subject.String()
		}
		when := "expires"
		if left < 0 {
			when = "expired"
		}
		return earliest, fmt.Sprintf("certificate %q %s %s (in %v; tls_expiry_warning %v)", name, when,
			earliest.UTC().Format(time.RFC3339), left.Round(time.Hour), warning)
	}
	return earliest, ""
}

// Unix is t in unix seconds, 0 for the zero time, for pulse.Result.CertExpiry.
func Unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
