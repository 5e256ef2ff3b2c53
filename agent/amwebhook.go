package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/code/alertmanagernotify"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// The inbound Alertmanager webhook: POST /api/v1/alertmanager/webhook takes
// Alertmanager's webhook payload (version 4) and dispatches every alert as a
// code. docs/alertmanager-inbound.md is the user's guide.
//
//   - Auth: a client certificate verified by the web configuration, basic
//     auth of the web configuration (exporter-toolkit checked it before the
//     request got here), or "Authorization: Bearer TOKEN" with the token of
//     alertmanager_webhook.bearer_token_file. With none of them configured
//     the endpoint is disabled (403): it never takes anonymous input.
//   - Validation: the whole request is checked before anything is
//     dispatched; a bad one is refused with 400 and every problem.
//   - Dispatch: on the owner goroutine. An alert with a cpra_monitor label
//     naming a monitor of this shard goes to that monitor's notifiers;
//     others go to the monitor file's alertmanager_webhook.codes, or are
//     counted as unrouted. A firing critical alert may start the monitor's
//     intervention (intervention.on_alert), through the incident state
//     machine and its restart-loop guard, once per alert.

const (
	webhookVersion     = "4"              // the payload version this endpoint speaks
	monitorLabel       = "cpra_monitor"   // names the monitor an alert is about
	maxProblems        = 10               // problems listed in a 400 answer
	maxAlertLabels     = 32               // labels carried by a code, in name order
	maxLabelValueBytes = 1024             // longer label values are cut
	maxMessageBytes    = 1024             // longer messages are cut
	webhookTimeout     = 10 * time.Second // for the owner to take the alerts
	// triggerTTL is how long an alert that asked for an intervention is
	// remembered, so that Alertmanager re-sending it (a group change, the
	// repeat interval) does not intervene again; a resolved alert is
	// forgotten at once.
	triggerTTL  = 24 * time.Hour
	maxTriggers = 65536
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

// inboundAlert is one validated alert, ready for the owner.
type inboundAlert struct {
	n         code.Notification // Monitor, Code, State (firing or resolved), Message, Labels
	status    string            // firing or resolved
	alertname string
	named     bool   // has a cpra_monitor label: n.Monitor is its value
	loop      bool   // one of the agent's own alerts
	intervene bool   // firing and red: may start the monitor's intervention
	key       string // monitor, fingerprint and start: one alert instance

	// Set on the owner goroutine.
	result     string
	intervened bool
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
func colourOf(status, severity string) code.Code {
	if status == "resolved" {
		return code.Green
	}
	switch strings.ToLower(strings.TrimSpace(severity)) {
	case "critical":
		return code.Red
	case "info":
		return code.Cyan
	}
	return code.Yellow
}

// inbound turns a validated alert into a code. extra are the agent's own
// labels (the shard), added where the alert has none of that name.
func inbound(a amAlert, extra map[string]string, now time.Time) inboundAlert {
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
	return inboundAlert{
		n: code.Notification{
			Time:    now,
			Monitor: cut(monitor, maxLabelValueBytes),
			Code:    c,
			State:   a.Status,
			Message: cut(msg, maxMessageBytes),
			Labels:  codeLabels(a.Labels, extra),
		},
		status:    a.Status,
		alertname: alertname,
		named:     named,
		loop:      alertname == alertmanagernotify.Alertname,
		intervene: c == code.Red,
		key:       triggerKey(monitor, fingerprint, a.StartsAt),
	}
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

// amWebhook serves POST /api/v1/alertmanager/webhook.
type amWebhook struct {
	a         *Agent
	tokenFile string
	webConfig string
	maxBytes  int64
	m         *telemetry.WebhookMetrics
	log       *slog.Logger
}

func newAMWebhook(a *Agent) *amWebhook {
	return &amWebhook{
		a:         a,
		tokenFile: a.cfg.AlertmanagerWebhook.BearerTokenFile,
		webConfig: a.cfg.Web.ConfigFile,
		maxBytes:  int64(a.cfg.AlertmanagerWebhook.MaxRequestBytes),
		m:         a.m.AlertmanagerWebhook,
		log:       a.log.With("component", "alertmanager_webhook"),
	}
}

// checkWebhookConfig reads the bearer token file, so that a missing or
// empty one stops the agent (and fails --config.check) rather than every
// request. It returns how the endpoint authenticates, for the log.
func checkWebhookConfig(cfg config.Agent) (auth string, err error) {
	var ways []string
	if f := cfg.AlertmanagerWebhook.BearerTokenFile; f != "" {
		if _, err := readBearerToken(f); err != nil {
			return "", fmt.Errorf("alertmanager_webhook.bearer_token_file: %w", err)
		}
		ways = append(ways, "bearer token")
	}
	users, certs := webAuth(cfg.Web.ConfigFile)
	if users {
		ways = append(ways, "basic auth")
	}
	if certs {
		ways = append(ways, "client certificates")
	}
	if len(ways) == 0 {
		return "disabled (no alertmanager_webhook.bearer_token_file and no basic auth in the web configuration)", nil
	}
	return strings.Join(ways, ", "), nil
}

func readBearerToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return token, nil
}

// basicAuthConfigured reports whether the web configuration has basic auth
// users. exporter-toolkit then checks every request's credentials before
// any handler runs, and reads the file on every request: so do we.
func basicAuthConfigured(path string) bool {
	users, _ := webAuth(path)
	return users
}

// webAuth reports whether the web configuration at path has basic auth
// users, and whether it verifies client certificates.
func webAuth(path string) (users, certs bool) {
	if path == "" {
		return false, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, false
	}
	var c struct {
		Users map[string]any `yaml:"basic_auth_users"`
		TLS   struct {
			ClientAuth string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if yaml.Unmarshal(data, &c) != nil {
		return false, false
	}
	return len(c.Users) > 0, strings.Contains(c.TLS.ClientAuth, "Verify")
}

// tokensEqual compares in constant time, whatever the lengths.
func tokensEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// authorize answers the request itself, with the result it counted under,
// unless it may send alerts.
func (h *amWebhook) authorize(w http.ResponseWriter, r *http.Request) (result string, ok bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return "", true // a client certificate the web configuration's CA verified
	}
	users := basicAuthConfigured(h.webConfig)
	if _, _, sent := r.BasicAuth(); sent && users {
		return "", true // exporter-toolkit checked these credentials
	}
	if h.tokenFile == "" && users {
		// Basic auth is configured, but exporter-toolkit did not see any
		// credentials (the web config changed since it read it).
		w.Header().Set("WWW-Authenticate", `Basic realm="cpra-agent"`)
		http.Error(w, "unauthorized: send the web configuration's basic auth credentials", http.StatusUnauthorized)
		return telemetry.WebhookUnauthorized, false
	}
	if h.tokenFile == "" {
		h.log.Warn("Alertmanager webhook request refused: the endpoint is disabled", "remote", r.RemoteAddr)
		http.Error(w, "the Alertmanager webhook is disabled: set alertmanager_webhook.bearer_token_file in the agent configuration, "+
			"or basic auth in the web configuration", http.StatusForbidden)
		return telemetry.WebhookDisabled, false
	}
	token, err := readBearerToken(h.tokenFile)
	if err != nil {
		h.log.Error("cannot read the Alertmanager webhook's bearer token; refusing alerts until it is readable",
			"file", h.tokenFile, "err", err)
		http.Error(w, "the agent cannot check credentials right now", http.StatusServiceUnavailable)
		return telemetry.WebhookUnavailable, false
	}
	scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || !tokensEqual(strings.TrimSpace(got), token) {
		h.log.Debug("Alertmanager webhook request without a valid bearer token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="cpra-agent"`)
		http.Error(w, "unauthorized: send Authorization: Bearer with the agent's token", http.StatusUnauthorized)
		return telemetry.WebhookUnauthorized, false
	}
	return "", true
}

func (h *amWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	result, ok := h.authorize(w, r)
	if !ok {
		h.m.Requests.WithLabelValues(result).Inc()
		return
	}
	h.m.Requests.WithLabelValues(h.serve(w, r)).Inc()
}

// serve handles an authorized request and returns its result.
func (h *amWebhook) serve(w http.ResponseWriter, r *http.Request) string {
	if !h.a.Ready() {
		http.Error(w, "not ready: the agent is starting or shutting down; retry", http.StatusServiceUnavailable)
		return telemetry.WebhookUnavailable
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.log.Warn("Alertmanager webhook request refused: too large", "limit_bytes", h.maxBytes, "remote", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("request body larger than %d bytes (alertmanager_webhook.max_request_bytes); "+
			"set max_alerts in Alertmanager's webhook_config", h.maxBytes), http.StatusRequestEntityTooLarge)
		return telemetry.WebhookTooLarge
	case err != nil:
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return telemetry.WebhookBadRequest
	}
	p, problems := decodeWebhook(body)
	if len(problems) > 0 {
		if p != nil {
			for _, a := range p.Alerts {
				status := a.Status
				if status != "firing" && status != "resolved" {
					status = "invalid"
				}
				h.m.Alerts.WithLabelValues(status, telemetry.AlertRejected).Inc()
			}
		}
		listed := problems[:min(len(problems), maxProblems)]
		if n := len(problems) - len(listed); n > 0 {
			listed = append(listed, fmt.Sprintf("and %d more", n))
		}
		h.log.Warn("Alertmanager webhook request refused: invalid payload", "problems", strings.Join(listed, "; "), "remote", r.RemoteAddr)
		http.Error(w, "invalid Alertmanager webhook payload:\n"+strings.Join(listed, "\n"), http.StatusBadRequest)
		return telemetry.WebhookBadRequest
	}
	if p.TruncatedAlerts > 0 {
		h.log.Warn("Alertmanager left alerts out of a webhook request (its max_alerts); they are not dispatched",
			"truncated_alerts", p.TruncatedAlerts, "receiver", p.Receiver, "group_key", p.GroupKey)
	}

	now := time.Now()
	alerts := make([]inboundAlert, len(p.Alerts))
	for i, a := range p.Alerts {
		alerts[i] = inbound(a, h.a.extraLabels, now)
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
	defer cancel()
	if err := h.a.onOwner(ctx, func() { h.a.routeAlerts(alerts, now) }); err != nil {
		// Alertmanager retries a 5xx: at worst an alert is dispatched twice.
		http.Error(w, "the agent did not take the alerts in time; retry: "+err.Error(), http.StatusServiceUnavailable)
		return telemetry.WebhookUnavailable
	}

	counts := map[string]int{}
	var unrouted, loops []string // "alertname/monitor" of the first few, for the log
	for _, a := range alerts {
		counts[a.result]++
		h.m.Alerts.WithLabelValues(a.status, a.result).Inc()
		switch a.result {
		case telemetry.AlertUnrouted:
			unrouted = appendFew(unrouted, a.alertname+"/"+a.n.Monitor)
		case telemetry.AlertLoop:
			loops = appendFew(loops, a.alertname+"/"+a.n.Monitor)
		}
		if a.intervened {
			h.log.Info("alert started the monitor's intervention", "alertname", a.alertname, "monitor", a.n.Monitor)
		}
	}
	if n := counts[telemetry.AlertUnrouted]; n > 0 {
		h.log.Warn("alerts not dispatched: they name no monitor of this agent and the monitor file's alertmanager_webhook section has no route for their colour",
			"count", n, "alerts", strings.Join(unrouted, ", "))
	}
	if n := counts[telemetry.AlertLoop]; n > 0 {
		h.log.Warn("alerts not dispatched: they are the agent's own, sent back by Alertmanager; exclude alertname=\""+alertmanagernotify.Alertname+"\" from the route to the agent",
			"count", n, "alerts", strings.Join(loops, ", "))
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	fmt.Fprintf(w, "accepted %d alerts (%s)\n", len(alerts), strings.Join(parts, ", "))
	return telemetry.WebhookAccepted
}

// appendFew appends s while list is short: a log line names a few alerts
// and counts the rest.
func appendFew(list []string, s string) []string {
	if len(list) < 10 {
		return append(list, s)
	}
	return list
}

// routeAlerts dispatches alerts on the owner goroutine and records each
// one's result.
func (a *Agent) routeAlerts(alerts []inboundAlert, now time.Time) {
	for i := range alerts {
		alerts[i].result = a.routeAlert(&alerts[i], now)
	}
	a.flushEffects()
}

func (a *Agent) routeAlert(in *inboundAlert, now time.Time) string {
	if in.loop {
		return telemetry.AlertLoop
	}
	// Every replica receives every alert; one handles each: the shard of
	// the named monitor, shard 0 for alerts without one.
	owner := 0
	if in.named && a.cfg.Shard.Count > 1 {
		owner = ShardOf(in.n.Monitor, a.cfg.Shard.Count)
	}
	if !a.owns(owner) {
		return telemetry.AlertOtherShard
	}
	if in.named {
		ask := in.intervene && !a.triggers.seen(in.key, now)
		out := a.world.ApplyAlert(in.n, ask, in.n.Message, now, &a.fx)
		in.intervened = out.Intervened
		switch {
		case out.OptedIn:
			a.triggers.remember(in.key, now)
		case in.status == "resolved":
			a.triggers.forget(in.key)
		}
		switch out.Route {
		case world.AlertRouted:
			return telemetry.AlertMonitor
		case world.AlertSuppressed:
			return telemetry.AlertSuppressed
		}
		// Not a monitor of this agent, or one that sends codes nowhere.
	}
	if targets := a.alertRoutes.Targets(in.n.Code); len(targets) > 0 {
		a.fx.Codes = append(a.fx.Codes, world.Dispatch{Notification: in.n, Targets: targets, Foreign: true})
		return telemetry.AlertDefault
	}
	if a.alertRoutes[in.n.Code].Configured {
		return telemetry.AlertSuppressed
	}
	return telemetry.AlertUnrouted
}

// triggerKey identifies one alert in a fixed 16 bytes, however long the
// fingerprint and labels the sender chose.
func triggerKey(monitor, fingerprint, startsAt string) string {
	sum := sha256.Sum256([]byte(monitor + "\x00" + fingerprint + "\x00" + startsAt))
	return string(sum[:16])
}

// alertTriggers remembers the alerts that asked for an intervention, so
// that each alert (its monitor, fingerprint and start) asks once. Owned by
// the owner goroutine.
type alertTriggers map[string]time.Time

// seen reports whether the alert already asked; a re-send of a remembered
// alert renews it, so an alert that stays firing never asks twice.
func (t alertTriggers) seen(key string, now time.Time) bool {
	at, ok := t[key]
	if ok && now.Sub(at) < triggerTTL {
		t[key] = now
		return true
	}
	return false
}

func (t alertTriggers) remember(key string, now time.Time) {
	if _, ok := t[key]; !ok && len(t) >= maxTriggers {
		maps.DeleteFunc(t, func(_ string, at time.Time) bool { return now.Sub(at) >= triggerTTL })
		if len(t) >= maxTriggers {
			// Still full: make room by forgetting the alert heard of least
			// recently (the restart-loop guard bounds what that can cost).
			oldest, first := "", true
			for k, at := range t {
				if first || at.Before(t[oldest]) {
					oldest, first = k, false
				}
			}
			delete(t, oldest)
		}
	}
	t[key] = now
}

func (t alertTriggers) forget(key string) { delete(t, key) }
