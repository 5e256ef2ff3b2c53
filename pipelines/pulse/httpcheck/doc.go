// Package httpcheck is the "http" check kind: one HTTP request per attempt,
// passing when the response status is one of the valid status codes.
//
// A monitor's config block:
//
//	url: https://api.example.com/health  # required, http or https
//	method: GET                            # default GET
//	headers: {Authorization: Bearer x}     # User-Agent defaults to cpra-agent
//	body: ""                               # request body, default none
//	valid_status_codes: [200, 204]         # default any 2xx
//	follow_redirects: true                 # default true
//	tls_config:
//	  insecure_skip_verify: false
//	  server_name: api.example.com         # SNI and verification name
//	retries: 0                             # extra attempts within the timeout
//	proxy_url: http://proxy:3128           # default no proxy (environment ignored)
//	max_connections_per_host: 0            # default the agent's connections.max_per_host
//
// The url is the monitor's address; every other key configures a Prober
// shared by all monitors with the same values, so those monitors share one
// connection pool. The monitor's timeout comes from the probe's context and
// covers every attempt, including the pauses between them. The prober is
// pulse.Gated: a check first waits for a connection slot to its host (the
// agent's per-host limits, package hostconns), and the timeout starts only
// once it holds one.
//
// Plain-HTTP checks without a proxy, authentication or user information in
// the URL run on the worker's own goroutine over connections the prober
// keeps (fast.go); the rest, and a redirect to follow, go through net/http.
// Both record where the time went (pulse.Result.Phases).
//
// A failed check's reason is short: "status 503",
// "GET http://10.0.0.1:8080/health: connection refused" or
// "GET http://10.0.0.1:8080/health: timeout after 5s", with " (3 attempts)"
// appended when retries were made. URLs in reasons lose their password,
// query and fragment so that tokens do not reach logs and notifications.
//
// A failure is Unreachable (see pulse.Result) when no response arrived: a
// name that does not resolve, a refused or reset connection, a failed TLS
// handshake (an untrusted certificate included), or the timeout passing
// before the first byte of a response. A response of any kind, even a bad
// status, a malformed one or a redirect to a host that does not answer,
// means the host answered. Through a proxy_url the proxy is what answers:
// its 502 is a bad status, its silence is unreachable.
//
// # Assertions
//
// Beyond the status, a response can be asserted on (assert.go): regexps on
// the body and on headers, JSONPath conditions on a JSON body, a maximum
// response time and a body size limit. Each failure names the assertion and
// quotes at most 64 characters. They cost nothing when not configured: the
// body is then drained, not kept. On https, a certificate chain expiring
// within tls_expiry_warning (14 days) fails the check; its earliest expiry
// is reported either way (pulse.Result.CertExpiry).
package httpcheck
