package amwebhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/owner"
	"github.com/cpra-agent/cpra-agent/pipelines/code/alertmanagernotify"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Router takes validated alerts: the owner (owner.Owner.RouteAlerts).
type Router interface {
	RouteAlerts(ctx context.Context, alerts []owner.Alert, now time.Time) error
}

// Options are what the handler needs.
type Options struct {
	Config  config.Agent // alertmanager_webhook and web.config_file
	Router  Router       // dispatches the alerts
	Ready   func() bool  // false while loading or shutting down: 503
	Metrics *telemetry.WebhookMetrics
	Log     *slog.Logger
	// BodyTimeout bounds reading the body, so a client trickling it is
	// cut off; 0 leaves it to the server's read timeout.
	BodyTimeout time.Duration
}

// Handler serves POST /api/v1/alertmanager/webhook.
type Handler struct {
	router    Router
	ready     func() bool
	labels    map[string]string
	tokenFile string
	web       *webConfig
	maxBytes  int64
	bodyTime  time.Duration
	m         *telemetry.WebhookMetrics
	log       *slog.Logger
}

// New returns the webhook's handler.
func New(o Options) *Handler {
	return &Handler{
		router:    o.Router,
		ready:     o.Ready,
		labels:    o.Config.Shard.Labels(),
		tokenFile: o.Config.AlertmanagerWebhook.BearerTokenFile,
		web:       &webConfig{path: o.Config.Web.ConfigFile},
		maxBytes:  int64(o.Config.AlertmanagerWebhook.MaxRequestBytes),
		bodyTime:  o.BodyTimeout,
		m:         o.Metrics,
		log:       o.Log.With("component", "alertmanager_webhook"),
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	result, ok := h.authorize(w, r)
	if !ok {
		h.m.Requests.WithLabelValues(result).Inc()
		return
	}
	h.m.Requests.WithLabelValues(h.serve(w, r)).Inc()
}

// serve handles an authorized request and returns its result.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) string {
	if !h.ready() {
		http.Error(w, "not ready: the agent is starting or shutting down; retry", http.StatusServiceUnavailable)
		return telemetry.WebhookUnavailable
	}
	// Only JSON: a browser form (text/plain, urlencoded, multipart) can be
	// posted from any site without a preflight, carrying the user's
	// credentials; Alertmanager always sends application/json.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, fmt.Sprintf("unsupported Content-Type %q: Alertmanager's webhook payload is application/json",
			r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return telemetry.WebhookBadRequest
	}
	if h.bodyTime > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyTime))
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
	alerts := make([]owner.Alert, len(p.Alerts))
	names := make([]string, len(p.Alerts)) // alertnames, for the log
	for i, a := range p.Alerts {
		alerts[i], names[i] = inbound(a, h.labels, now)
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
	defer cancel()
	if err := h.router.RouteAlerts(ctx, alerts, now); err != nil {
		// Alertmanager retries a 5xx: at worst an alert is dispatched twice.
		http.Error(w, "the agent did not take the alerts in time; retry: "+err.Error(), http.StatusServiceUnavailable)
		return telemetry.WebhookUnavailable
	}

	counts := map[string]int{}
	var unrouted, loops []string // "alertname/monitor" of the first few, for the log
	for i, a := range alerts {
		counts[a.Result]++
		h.m.Alerts.WithLabelValues(a.Status, a.Result).Inc()
		switch a.Result {
		case telemetry.AlertUnrouted:
			unrouted = appendFew(unrouted, names[i]+"/"+a.Notification.Monitor)
		case telemetry.AlertLoop:
			loops = appendFew(loops, names[i]+"/"+a.Notification.Monitor)
		}
		if a.Intervened {
			h.log.Info("alert started the monitor's intervention", "alertname", names[i], "monitor", a.Notification.Monitor)
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
