// Package testpki makes certificates for tests that speak TLS to local
// servers: a self-signed one expiring when the test says, or a private CA
// with server and client certificates written as PEM files.
package testpki
