// Package receiver validates what the notifiers that POST to an HTTP
// receiver (webhook, alertmanager) share in their configuration: the
// receiver's URL and the extra headers, and keeps URLs out of error text.
package receiver
