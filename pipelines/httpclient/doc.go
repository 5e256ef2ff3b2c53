// Package httpclient is the HTTP plumbing that the kinds calling an HTTP
// endpoint share — the http check, the webhook and docker remedies, and
// the webhook and Alertmanager notifiers: validating the endpoint's URL
// and extra headers at load, and keeping URLs (with their credentials)
// out of error text.
package httpclient
