// Package certs is what the checks that speak TLS (http, tcp with tls or
// STARTTLS, tls) share: the tls_config block and the certificate expiry
// check behind tls_expiry_warning.
package certs
