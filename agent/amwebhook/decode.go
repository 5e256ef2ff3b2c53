package amwebhook

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cpra-agent/cpra-agent/agent/owner"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code/alertmanagernotify"
)

const (
	webhookVersion     = "4"              // the payload version this endpoint speaks
	monitorLabel       = "cpra_monitor"   // names the monitor an alert is about
	maxProblems        = 10               // problems listed in a 400 answer
	maxAlertLabels     = 32               // labels carried by a code, in name order
	maxLabelValueBytes = 1024             // longer label values are cut
	maxMessageBytes    = 1024             // longer messages are cut
	webhookTimeout     = 10 * time.Second // for the owner to take the alerts
)

// amPayload is Alertmanager's webhook payload, version 4. Unknown fields are
// ignored, so a newer Alertmanager that adds some keeps working.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"` // nil when absent or null
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// decodeWebhook parses and validates a request body. problems name every
// field that is wrong; p is nil when the body is not JSON at all.
func decodeWebhook(body []byte) (p *amPayload, problems []string) {
	p = &amPayload{}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, []string{"malformed JSON: " + err.Error()}
	}
	switch p.Version {
	case webhookVersion:
	case "":
		problems = append(problems, fmt.Sprintf("version: missing (Alertmanager's webhook payload has version %q)", webhookVersion))
	default:
		problems = append(problems, fmt.Sprintf("version: %q is not supported, want %q", p.Version, webhookVersion))
	}
	if p.Alerts == nil {
		return p, append(problems, "alerts: missing")
	}
	if len(p.Alerts) == 0 {
		return p, append(problems, "alerts: empty")
	}
	for i, a := range p.Alerts {
		at := fmt.Sprintf("alerts[%d]", i)
		if a.Status != "firing" && a.Status != "resolved" {
			problems = append(problems, fmt.Sprintf("%s.status: must be firing or resolved, got %q", at, a.Status))
		}
		if len(a.Labels) == 0 {
			problems = append(problems, at+".labels: missing")
		}
		for name := range a.Labels {
			if name == "" {
				problems = append(problems, at+".labels: a label has an empty name")
				break
			}
		}
		if a.StartsAt == "" {
			problems = append(problems, at+".startsAt: missing")
		} else if t, err := time.Parse(time.RFC3339Nano, a.StartsAt); err != nil {
			problems = append(problems, fmt.Sprintf("%s.startsAt: %q is not an RFC 3339 time", at, a.StartsAt))
		} else if t.IsZero() {
			problems = append(problems, at+".startsAt: the zero time")
		}
		if a.EndsAt != "" { // the zero time when the alert has no end yet
			if _, err := time.Parse(time.RFC3339Nano, a.EndsAt); err != nil {
				problems = append(problems, fmt.Sprintf("%s.endsAt: %q is not an RFC 3339 time", at, a.EndsAt))
			}
		}
	}
	return p, problems
}

// colourOf is the code of an alert: resolved is green; firing is red for
// severity critical, cyan for info, and yellow for warning and for any
// other or no severity (something is wrong; how badly, it does not say).
func colourOf(status, severity string) domain.Code {
	if status == "resolved" {
		return domain.Green
	}
	switch strings.ToLower(strings.TrimSpace(severity)) {
	case "critical":
		return domain.Red
	case "info":
		return domain.Cyan
	}
	return domain.Yellow
}

// inbound turns a validated alert into what the owner routes, and names
// it by its alertname for the log. extra are the agent's own labels (the
// shard), added where the alert has none of that name.
func inbound(a amAlert, extra map[string]string, now time.Time) (owner.Alert, string) {
	alertname := a.Labels["alertname"]
	monitor, named := a.Labels[monitorLabel]
	if !named {
		monitor = cmp.Or(alertname, "alertmanager")
	}
	c := colourOf(a.Status, a.Labels["severity"])
	msg := cmp.Or(alertname, "alert") + " " + a.Status + " in Alertmanager"
	summary, description := strings.TrimSpace(a.Annotations["summary"]), strings.TrimSpace(a.Annotations["description"])
	switch {
	case summary != "" && description != "" && description != summary:
		msg += ": " + summary + "; " + description
	case summary != "" || description != "":
		msg += ": " + cmp.Or(summary, description)
	}
	fingerprint := a.Fingerprint
	if fingerprint == "" {
		fingerprint = labelsHash(a.Labels)
	}
	return owner.Alert{
		Notification: domain.Notification{
			Time:    now,
			Monitor: cut(monitor, maxLabelValueBytes),
			Code:    c,
			Message: cut(msg, maxMessageBytes),
			Labels:  codeLabels(a.Labels, extra),
		},
		Status:    a.Status,
		Named:     named,
		Loop:      ownAlert(alertname),
		Intervene: c == domain.Red,
		Key:       triggerKey(monitor, fingerprint, a.StartsAt),
	}, alertname
}

// ownAlert reports whether alertname is one of the agent's own: the
// CPRAMonitor alerts of its codes, or an alert of its shipped rules (all
// named CPRA…). Dispatching those again could sustain itself: an unrouted
// CPRAWebhookUnroutedAlerts would fire CPRAWebhookUnroutedAlerts.
func ownAlert(alertname string) bool {
	return alertname == alertmanagernotify.Alertname || strings.HasPrefix(alertname, "CPRA")
}

// codeLabels are the labels a code carries: the alert's, without
// cpra_monitor (the code's monitor already), at most maxAlertLabels in name
// order with values cut to maxLabelValueBytes, and the agent's own.
func codeLabels(labels, extra map[string]string) map[string]string {
	out := make(map[string]string, min(len(labels), maxAlertLabels)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if k == monitorLabel {
			continue
		}
		if len(out) == maxAlertLabels {
			break
		}
		out[k] = cut(labels[k], maxLabelValueBytes)
	}
	for k, v := range extra {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// labelsHash identifies an alert that came without a fingerprint.
func labelsHash(labels map[string]string) string {
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// triggerKey identifies one alert in a fixed 16 bytes, however long the
// fingerprint and labels the sender chose.
func triggerKey(monitor, fingerprint, startsAt string) string {
	sum := sha256.Sum256([]byte(monitor + "\x00" + fingerprint + "\x00" + startsAt))
	return string(sum[:16])
}
