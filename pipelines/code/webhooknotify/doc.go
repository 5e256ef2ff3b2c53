// Package webhooknotify is the "webhook" notifier: it POSTs every code as a
// JSON object to a URL.
//
//	codes:
//	  red: {dispatch: true, notify: webhook, config: {url: "https://hooks.example/cpra", headers: {Authorization: "Bearer s3cret"}, timeout: 5s}}
//
// The body (groups and labels are always present, possibly empty; severity
// is empty for green and gray):
//
//	{"version":"1","time":"2025-01-02T03:04:05.123Z","monitor":"api-health","code":"red",
//	 "severity":"critical","state":"down","message":"3 consecutive failures: status 503",
//	 "groups":["web"],"labels":{"shard":"0"}}
//
// It is sent with Content-Type application/json and User-Agent cpra-agent.
// Any 2xx status means delivered; anything else, a redirect included, is an
// error that the code pipeline retries, so a receiver may see the same body
// more than once and can deduplicate on (monitor, code, time).
package webhooknotify
