package amwebhook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code/alertmanagernotify"
)

// alert is one alert of a test payload.
type alert struct {
	status      string
	labels      map[string]string
	annotations map[string]string
}

// payload is Alertmanager's webhook body for alerts, as Alertmanager 0.25
// writes it.
func payload(alerts ...alert) string {
	type amAlertOut struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"startsAt"`
		EndsAt       string            `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	var out []amAlertOut
	for _, a := range alerts {
		ends := "0001-01-01T00:00:00Z"
		if a.status == "resolved" {
			ends = "2026-01-02T03:05:00Z"
		}
		out = append(out, amAlertOut{
			Status: a.status, Labels: a.labels, Annotations: a.annotations,
			StartsAt: "2026-01-02T03:04:05.123456789Z", EndsAt: ends,
			GeneratorURL: "http://prometheus.test/graph", Fingerprint: labelsHash(a.labels),
		})
	}
	data, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}:{alertname="x"}`, "truncatedAlerts": 0, "status": "firing",
		"receiver": "cpra", "groupLabels": map[string]string{}, "commonLabels": map[string]string{},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.test", "alerts": out,
	})
	if err != nil {
		panic(err)
	}
	return string(data)
}

func firing(labels ...string) alert   { return alert{status: "firing", labels: pairs(labels)} }
func resolved(labels ...string) alert { return alert{status: "resolved", labels: pairs(labels)} }

func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestDecodeWebhook(t *testing.T) {
	valid := payload(firing("alertname", "HighLatency"))
	replace := func(old, new string) string { return strings.Replace(valid, old, new, 1) }
	tests := []struct {
		name     string
		body     string
		problems []string // substrings, one per problem, in order
	}{
		{"valid", valid, nil},
		{"valid resolved", payload(resolved("alertname", "HighLatency")), nil},
		{"unknown fields are ignored", replace(`"version"`, `"future":{"x":1},"version"`), nil},
		{"not JSON", "{not json", []string{"malformed JSON: invalid character 'n'"}},
		{"empty body", "", []string{"malformed JSON: unexpected end of JSON input"}},
		{"trailing garbage", valid + "}", []string{"malformed JSON: invalid character '}' after top-level value"}},
		{"a list", "[]", []string{"malformed JSON: json: cannot unmarshal array"}},
		{"wrong type", replace(`"version":"4"`, `"version":4`), []string{"malformed JSON: json: cannot unmarshal number into Go struct field amPayload.version of type string"}},
		{"old version", replace(`"version":"4"`, `"version":"3"`), []string{`version: "3" is not supported, want "4"`}},
		{"no version", replace(`,"version":"4"`, ``), []string{`version: missing`}},
		{"no alerts", `{"version":"4"}`, []string{"alerts: missing"}},
		{"null alerts", `{"version":"4","alerts":null}`, []string{"alerts: missing"}},
		{"empty alerts and no version", `{"alerts":[]}`, []string{"version: missing", "alerts: empty"}},
		{"bad status", replace(`"status":"firing","labels"`, `"status":"burning","labels"`), []string{`alerts[0].status: must be firing or resolved, got "burning"`}},
		{"bad startsAt", replace(`"2026-01-02T03:04:05.123456789Z"`, `"yesterday"`), []string{`alerts[0].startsAt: "yesterday" is not an RFC 3339 time`}},
		{"no startsAt", replace(`"startsAt":"2026-01-02T03:04:05.123456789Z",`, ``), []string{"alerts[0].startsAt: missing"}},
		{"zero startsAt", replace(`"2026-01-02T03:04:05.123456789Z"`, `"0001-01-01T00:00:00Z"`), []string{"alerts[0].startsAt: the zero time"}},
		{"bad endsAt", replace(`"0001-01-01T00:00:00Z"`, `"2026-13-01T00:00:00Z"`), []string{`alerts[0].endsAt: "2026-13-01T00:00:00Z" is not an RFC 3339 time`}},
		{"no labels", payload(alert{status: "firing"}), []string{"alerts[0].labels: missing"}},
		{"empty label name", payload(firing("", "x")), []string{"alerts[0].labels: a label has an empty name"}},
		{"every problem of every alert", `{"version":"2","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2026-01-02T03:04:05Z"},{"status":"x","startsAt":"now","endsAt":"later"}]}`, []string{
			`version: "2" is not supported`, `alerts[1].status: must be firing or resolved, got "x"`, "alerts[1].labels: missing",
			`alerts[1].startsAt: "now" is not`, `alerts[1].endsAt: "later" is not`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := decodeWebhook([]byte(tt.body))
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %d like %q", problems, len(tt.problems), tt.problems)
			}
			for i, want := range tt.problems {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], want)
				}
			}
		})
	}
}

func TestColourOf(t *testing.T) {
	tests := []struct {
		status, severity string
		want             domain.Code
	}{
		{"firing", "critical", domain.Red},
		{"firing", " Critical ", domain.Red},
		{"firing", "warning", domain.Yellow},
		{"firing", "info", domain.Cyan},
		{"firing", "", domain.Yellow},
		{"firing", "page", domain.Yellow},
		{"resolved", "critical", domain.Green},
		{"resolved", "", domain.Green},
	}
	for _, tt := range tests {
		if got := colourOf(tt.status, tt.severity); got != tt.want {
			t.Errorf("colourOf(%q, %q) = %v, want %v", tt.status, tt.severity, got, tt.want)
		}
	}
}

func TestInbound(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := amAlert{Status: "firing", StartsAt: "2026-01-02T03:04:05Z", Fingerprint: "abc",
		Labels:      map[string]string{"alertname": "HighLatency", "cpra_monitor": "checkout", "severity": "critical", "shard": "mine"},
		Annotations: map[string]string{"summary": "p99 above 2s", "description": "checkout p99 is 3.1s"}}
	in, _ := inbound(a, map[string]string{"shard": "0", "zone": "eu"}, now)
	if in.Notification.Monitor != "checkout" || !in.Named || in.Notification.Code != domain.Red || in.Notification.State != "" || !in.Notification.Time.Equal(now) {
		t.Errorf("notification %+v (named %v)", in.Notification, in.Named)
	}
	if want := "HighLatency firing in Alertmanager: p99 above 2s; checkout p99 is 3.1s"; in.Notification.Message != want {
		t.Errorf("message %q, want %q", in.Notification.Message, want)
	}
	// cpra_monitor is the code's monitor; the alert's labels win over the agent's.
	if want := map[string]string{"alertname": "HighLatency", "severity": "critical", "shard": "mine", "zone": "eu"}; !mapsEqual(in.Notification.Labels, want) {
		t.Errorf("labels %v, want %v", in.Notification.Labels, want)
	}
	if !in.Intervene || in.Loop || in.Key != triggerKey("checkout", "abc", "2026-01-02T03:04:05Z") {
		t.Errorf("intervene %v, loop %v, key %q", in.Intervene, in.Loop, in.Key)
	}

	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		monitor     string
		message     string
		intervene   bool
	}{
		{"no cpra_monitor: the alertname", map[string]string{"alertname": "DiskFull", "severity": "warning"}, nil,
			"DiskFull", "DiskFull firing in Alertmanager", false},
		{"no alertname either", map[string]string{"job": "x"}, map[string]string{"description": "d"},
			"alertmanager", "alert firing in Alertmanager: d", false},
		{"summary only", map[string]string{"alertname": "A", "severity": "info"}, map[string]string{"summary": "s"},
			"A", "A firing in Alertmanager: s", false},
		{"same summary and description", map[string]string{"alertname": "A"}, map[string]string{"summary": "s", "description": "s"},
			"A", "A firing in Alertmanager: s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := inbound(amAlert{Status: "firing", Labels: tt.labels, Annotations: tt.annotations, StartsAt: "2026-01-02T03:04:05Z"}, nil, now)
			if in.Notification.Monitor != tt.monitor || in.Named || in.Notification.Message != tt.message || in.Intervene != tt.intervene {
				t.Errorf("monitor %q, named %v, message %q, intervene %v; want %q, false, %q, %v",
					in.Notification.Monitor, in.Named, in.Notification.Message, in.Intervene, tt.monitor, tt.message, tt.intervene)
			}
			if in.Key != triggerKey(tt.monitor, labelsHash(tt.labels), "2026-01-02T03:04:05Z") {
				t.Errorf("key %q does not use the labels' hash without a fingerprint", in.Key)
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		labels := map[string]string{"alertname": alertmanagernotify.Alertname}
		for i := range 50 {
			labels[fmt.Sprintf("l%02d", i)] = strings.Repeat("é", 1000) // 2000 bytes
		}
		in, _ := inbound(amAlert{Status: "resolved", Labels: labels, StartsAt: "2026-01-02T03:04:05Z",
			Annotations: map[string]string{"summary": strings.Repeat("x", 5000)}}, nil, now)
		if len(in.Notification.Labels) != maxAlertLabels {
			t.Errorf("%d labels, want %d", len(in.Notification.Labels), maxAlertLabels)
		}
		if _, ok := in.Notification.Labels["alertname"]; !ok {
			t.Error("alertname is not among the first labels in name order")
		}
		for k, v := range in.Notification.Labels {
			if k == "alertname" {
				continue
			}
			if len(v) > maxLabelValueBytes || !strings.HasPrefix(strings.Repeat("é", 1000), v) {
				t.Errorf("label %s: %d bytes, or cut inside a character", k, len(v))
			}
		}
		if len(in.Notification.Message) > maxMessageBytes {
			t.Errorf("message of %d bytes", len(in.Notification.Message))
		}
		if !in.Loop || in.Intervene || in.Notification.Code != domain.Green {
			t.Errorf("loop %v, intervene %v, code %v: want the agent's own resolved alert, green, no intervention", in.Loop, in.Intervene, in.Notification.Code)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestWebConfigFollowsTheFile: the handler sees a change of the web
// configuration at the next request, as exporter-toolkit does, without
// parsing an unchanged file again.
func TestWebConfigFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.yml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &webConfig{path: path}
	if users, certs := c.auth(); users || certs {
		t.Fatalf("no file: users %v, certs %v", users, certs)
	}
	write("http_server_config: {http2: true}\n")
	if users, _ := c.auth(); users {
		t.Fatal("no basic_auth_users, yet users")
	}
	write("basic_auth_users:\n  alertmanager: $2y$10$abcdefghijklmnopqrstuu5Ug3YOY3MtJfH4mXzBqHSHe8rvC5pCe\n")
	if users, _ := c.auth(); !users {
		t.Fatal("basic_auth_users added, not seen")
	}
	c.users = false // what a parse would set again; an unchanged file is not parsed
	if users, _ := c.auth(); users {
		t.Fatal("an unchanged file was parsed again")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if users, _ := c.auth(); users {
		t.Fatal("file removed, users still seen")
	}
}

// The agent's own alerts, its codes and its shipped rules' alerts, are
// never dispatched again: an unrouted CPRAWebhookUnroutedAlerts would
// otherwise keep itself firing (issue #13, item 3).
func TestOwnAlertsAreLoops(t *testing.T) {
	for name, own := range map[string]bool{
		"CPRAMonitor": true, "CPRAMonitorDown": true, "CPRAWebhookUnroutedAlerts": true, "CPRAAgentDown": true,
		"HighLatency": false, "DiskFull": false, "cpra": false,
	} {
		in, _ := inbound(amAlert{Status: "firing", StartsAt: "2026-01-02T03:04:05Z",
			Labels: map[string]string{"alertname": name, "severity": "critical"}}, nil, time.Unix(1_800_000_000, 0))
		if in.Loop != own {
			t.Errorf("%s: loop %v, want %v", name, in.Loop, own)
		}
	}
}
