// Package alertmanagernotify is the "alertmanager" notifier: it turns codes
// into Prometheus Alertmanager alerts, posted to <url>/api/v2/alerts.
//
//	codes:
//	  red:    {dispatch: true, notify: alertmanager, config: {url: "http://127.0.0.1:9093"}}
//	  yellow: {dispatch: true, notify: alertmanager, config: {url: "http://127.0.0.1:9093"}}
//
// # Alerts
//
// A firing code (yellow, red, cyan) is an alert with the labels
//
//	alertname="CPRAMonitor", monitor, code, severity (red=critical,
//	yellow=warning, cyan=info), groups (the monitor's groups, sorted and
//	comma-joined; absent when it has none)
//
// plus the notification's labels and the configured static labels (built-in
// labels win over notification labels, which win over static ones;
// notification labels with an invalid or built-in name, or an empty value,
// are dropped). Annotations: summary ("<monitor> is <state>"), description
// (the message, when there is one) and state. startsAt is the code's time;
// endsAt is 4×resend_interval ahead, as Prometheus does, so the alerts of an
// agent that died expire on their own.
//
// Each monitor has at most one current alert per notifier. A firing code
// with a different code than the current alert replaces it: the old alert is
// sent resolved (endsAt = now) in the same POST as the new one. Green and
// gray resolve the current alert and forget it; with none, nothing is sent.
//
// # Delivery
//
// The notifier keeps the desired state in memory and updates it before it
// posts, so a retried Notify (the code pipeline retries failures) sends the
// same alerts again, and a resolution that was never accepted is remembered
// until it is. One goroutine per notifier re-posts every firing alert and
// every pending resolution each resend_interval, in batches of at most 1000,
// so Alertmanager does not expire them and a restarted Alertmanager heals. A
// code older than the last one applied for its monitor (a retry overtaken by
// a newer code) is ignored. Close stops the loop and makes a last attempt to
// deliver pending resolutions; it does not resolve firing alerts.
package alertmanagernotify
