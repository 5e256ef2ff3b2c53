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
// The notifier keeps no state. The owner's incident book remembers which
// firing code each Alertmanager holds for a monitor and says so in
// Notification.Replaces: a firing code replacing a different one sends the
// old alert resolved (endsAt = now) in the same POST as the new one; green
// and gray resolve the held alert; with nothing held, nothing is sent. The
// same code again is the same alert, with its first startsAt.
//
// # Delivery
//
// Notify makes one POST; the code pipeline retries failures, in order per
// monitor and destination. The owner re-sends every held firing code each
// resend_interval (Notification.Resend) through the same pipeline, behind
// its breaker, so Alertmanager does not expire it and a restarted
// Alertmanager heals; a resend is never retried (the next one is). Because
// the state lives with the monitor, a reload that replaces or drops the
// notifier loses nothing: the owner resolves what the dropped one held, or
// hands it to the new instance for the same URL, and Close only releases
// idle connections.
package alertmanagernotify
