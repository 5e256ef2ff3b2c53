package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Results of requests to the Alertmanager webhook, the values of
// cpra_alertmanager_webhook_requests_total{result}.
const (
	WebhookAccepted     = "accepted"     // 200: every alert was handled (see the alerts' results)
	WebhookUnauthorized = "unauthorized" // 401: no or wrong credentials
	WebhookDisabled     = "disabled"     // 403: no bearer token file and no basic auth configured
	WebhookBadRequest   = "bad_request"  // 400: not a valid Alertmanager webhook payload
	WebhookTooLarge     = "too_large"    // 413: larger than alertmanager_webhook.max_request_bytes
	WebhookUnavailable  = "unavailable"  // 503: starting, shutting down, or the token file unreadable; Alertmanager retries
)

// Results of alerts received on the Alertmanager webhook, the values of
// cpra_alertmanager_webhook_alerts_total{result}.
const (
	AlertMonitor    = "monitor"     // dispatched to the named monitor's notifiers
	AlertDefault    = "default"     // dispatched to the default route (the monitor file's alertmanager_webhook section)
	AlertUnrouted   = "unrouted"    // no route: not dispatched, logged at warn
	AlertSuppressed = "suppressed"  // the route silences the colour (dispatch: false)
	AlertLoop       = "loop"        // one of the agent's own alerts (CPRAMonitor) sent back: ignored, logged at warn
	AlertOtherShard = "other_shard" // belongs to another shard, which handles it
	AlertRejected   = "rejected"    // in a request refused with 400: nothing dispatched
	AlertOverflow   = "overflow"    // the default route already holds alertmanager_webhook.max_relayed_alerts: not dispatched, logged at warn
)

// WebhookMetrics count what the inbound Alertmanager webhook received, so
// that nothing sent to it is lost silently.
type WebhookMetrics struct {
	Requests *prometheus.CounterVec // {result}
	Alerts   *prometheus.CounterVec // {status,result}
}

// newWebhookMetrics registers the webhook's families on m's registry, with
// every series at zero from the start.
func newWebhookMetrics(m *Metrics) *WebhookMetrics {
	w := &WebhookMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_alertmanager_webhook_requests_total",
			Help: "Requests to POST /api/v1/alertmanager/webhook by result (accepted, unauthorized, disabled, bad_request, too_large, unavailable).",
		}, []string{"result"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_alertmanager_webhook_alerts_total",
			Help: "Alerts received on the Alertmanager webhook by status (firing, resolved; invalid in rejected requests) and result (monitor, default, unrouted, suppressed, loop, other_shard, rejected, overflow).",
		}, []string{"status", "result"}),
	}
	for _, r := range []string{WebhookAccepted, WebhookUnauthorized, WebhookDisabled, WebhookBadRequest, WebhookTooLarge, WebhookUnavailable} {
		w.Requests.WithLabelValues(r)
	}
	for _, s := range []string{"firing", "resolved"} {
		for _, r := range []string{AlertMonitor, AlertDefault, AlertUnrouted, AlertSuppressed, AlertLoop, AlertOtherShard, AlertRejected, AlertOverflow} {
			w.Alerts.WithLabelValues(s, r)
		}
	}
	w.Alerts.WithLabelValues("invalid", AlertRejected)
	m.Registry.MustRegister(w.Requests, w.Alerts)
	return w
}
