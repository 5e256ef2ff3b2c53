package certs

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/cpra-agent/cpra-agent/pipelines/spec"
)

// DefaultExpiryWarning is how close to its expiry a certificate fails a
// check, unless tls_expiry_warning says otherwise.
const DefaultExpiryWarning = 14 * 24 * time.Hour

// Config is the tls_config block.
type Config struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	ServerName         string `yaml:"server_name"`
}

// TLS is the client configuration for c; serverName is used when c names
// none (the host the check connects to).
func (c Config) TLS(serverName string) *tls.Config {
	if c.ServerName != "" {
		serverName = c.ServerName
	}
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: c.InsecureSkipVerify} // opted into by configuration
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
