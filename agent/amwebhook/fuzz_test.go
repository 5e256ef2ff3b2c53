package amwebhook

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeWebhook: any request body is either a payload whose every
// alert is valid and becomes a bounded code, or refused with at least one
// problem; never a panic.
func FuzzDecodeWebhook(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","receiver":"cpra","alerts":[{"status":"firing","labels":{"alertname":"X","cpra_monitor":"api","severity":"critical"},"annotations":{"summary":"s"},"startsAt":"2026-01-02T03:04:05Z","fingerprint":"abc"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"Y"},"startsAt":"2026-01-02T03:04:05Z","endsAt":"2026-01-02T04:04:05Z"}]}`))
	f.Add([]byte(`{"version":"3","alerts":[]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"pending","labels":{"":"x"},"startsAt":"yesterday"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, problems := decodeWebhook(body)
		if len(problems) > 0 {
			return
		}
		if p == nil || len(p.Alerts) == 0 {
			t.Fatalf("accepted a payload without alerts: %q", body)
		}
		for _, a := range p.Alerts {
			if a.Status != "firing" && a.Status != "resolved" {
				t.Fatalf("accepted an alert with status %q", a.Status)
			}
			in, _ := inbound(a, map[string]string{"shard": "0"}, time.Unix(1_800_000_000, 0))
			n := in.Notification
			if n.Monitor == "" || len(n.Monitor) > maxLabelValueBytes || len(n.Message) > maxMessageBytes || len(n.Labels) > maxAlertLabels+1 {
				t.Fatalf("an unbounded code: monitor %d bytes, message %d bytes, %d labels", len(n.Monitor), len(n.Message), len(n.Labels))
			}
			if !utf8.ValidString(n.Message) {
				t.Fatalf("a message that is not UTF-8: %q", n.Message)
			}
		}
	})
}
