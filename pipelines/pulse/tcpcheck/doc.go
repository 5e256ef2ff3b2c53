// Package tcpcheck is the `tcp` check kind: it succeeds when a TCP connection
// to the target can be opened within the check's timeout.
//
//	pulse_check:
//	  type: tcp
//	  timeout: 3s
//	  config:
//	    host: db.internal      # host and port, as in the original file format,
//	    port: 5432
//	    # address: db.internal:5432   # or one host:port ("[::1]:5432" for IPv6)
//	    retries: 2             # extra attempts after a failure, default 0
//
// The connection is closed as soon as it is open; nothing is sent. Between
// attempts the check waits pulse.RetryBackoff, and it makes no attempt that
// the timeout would cut short. The host is resolved at each check.
// Failure reasons read "connect db.internal:5432: connection refused",
// "connect 10.0.0.9:22: timeout" or "resolve db.internal: no such host".
// Every failure but a canceled check is Unreachable (see pulse.Result): a
// TCP check asks nothing of the target beyond answering.
//
// With `tls: true` the check also completes a TLS handshake, and with
// `query_response` it holds a dialogue as blackbox_exporter's tcp module
// does (dialogue.go): expect a line matching a regexp, send a line, or
// upgrade to TLS (`starttls: true`, for SMTP, IMAP, LDAP and the like). A
// mismatch quotes the server's last line; a certificate expiring within
// tls_expiry_warning fails. TLSKind, the `tls` check, is a handshake alone,
// for TLS services that are not HTTP.
package tcpcheck
