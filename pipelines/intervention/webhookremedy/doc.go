// Package webhookremedy is the "webhook" intervention kind: one HTTP request
// per attempt, asking another system (a runbook automation, a CI job, an
// orchestrator) to repair the monitor's service.
//
// A monitor's config block:
//
//	url: https://ops.example.com/hooks/restart?service={{.Monitor | urlquery}}  # required
//	method: POST                         # default POST
//	headers:
//	  Authorization: Bearer s3cr3t       # values are templates too
//	body: |                              # default: the JSON object below
//	  {"text": {{printf "%s is %s: %s" .Monitor .State .Reason | json}}}
//	timeout: 30s                         # per attempt (intervention.Policy)
//	retries: 0
//	backoff: 1s
//
// The url, the header values and the body are Go text/template templates,
// compiled and tried once with sample data when the file is loaded, so a
// syntax error or an unknown field is a load error. They see
// intervention.Request: .Monitor, .State, .Reason, .Groups and .Attempt.
// Besides the builtin functions (urlquery, printf, ...) they have:
//
//	json  encodes a value as JSON: {"reason": {{json .Reason}}}
//	join  joins a list: {{join "," .Groups}} or {{.Groups | join ","}}
//
// Without a body the request carries
//
//	{"monitor":"api","state":"down","reason":"status 503","groups":["web"],"attempt":1}
//
// Content-Type defaults to application/json and User-Agent to cpra-agent.
// Any 2xx response is success; anything else, including a redirect (which is
// not followed), fails the attempt with the status and the start of the
// response body. Errors name only the webhook's scheme and host, since paths
// and queries of webhook URLs often carry tokens.
package webhookremedy
