// Package httpclient is the HTTP plumbing that the kinds calling an HTTP
// endpoint share — the http check, the webhook and docker remedies, and
// the webhook and Alertmanager notifiers: validating the endpoint's URL
// and extra headers at load, keeping URLs (with their credentials) out of
// error text, and authentication as Prometheus's HTTPClientConfig writes
// it (Auth: basic_auth with password_file, authorization with
// credentials_file, the oauth2 client-credentials grant), with the round
// trippers of github.com/prometheus/common/config on top of each kind's own
// transport.
package httpclient
