package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cpra-agent/cpra-agent/agent/owner"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// notReady answers what needs the monitors while the first configuration
// is still loading, or the agent is shutting down.
const notReady = "not ready: the agent is loading its monitors or shutting down; retry"

// The web server's limits. A scrape, a reload or a webhook has no reason to
// take longer; a client that holds a connection idle or trickles a body is
// cut off instead of holding a socket for ever.
var webLimits = struct {
	readHeader, read, write, idle time.Duration
	body                          time.Duration // to read a webhook body
	maxConns                      int           // connections at once, as Prometheus's --web.max-connections
}{readHeader: 10 * time.Second, read: 30 * time.Second, write: 2 * time.Minute, idle: time.Minute, body: 10 * time.Second, maxConns: 512}

// newWebServer is an http.Server for h with the web limits.
func newWebServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: webLimits.readHeader, ReadTimeout: webLimits.read,
		WriteTimeout: webLimits.write, IdleTimeout: webLimits.idle}
}

// handler serves the agent's endpoints. Requests that change something
// (POST) are refused when a browser says they come from another site, so a
// page elsewhere cannot reload the agent or post alerts with the user's
// credentials.
func (a *Agent) handler() http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "refused: a cross-site request may not change the agent (Sec-Fetch-Site or Origin names another site)", http.StatusForbidden)
	}))
	return csrf.Handler(a.mux())
}

// mux routes the endpoints.
func (a *Agent) mux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.m.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		Registry:          a.m.Registry,
	}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Ready() {
			http.Error(w, "Not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if !a.Ready() {
			http.Error(w, notReady, http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		if err := a.Reload(ctx); err != nil {
			http.Error(w, "reload failed; the running configuration is kept:\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: POST /-/reload reloads the monitor file", http.StatusMethodNotAllowed)
	})
	mux.HandleFunc("GET /probe", a.probe)
	mux.HandleFunc("GET /api/v1/cluster", a.clusterView)
	mux.Handle("POST /api/v1/alertmanager/webhook", a.webhook)
	mux.HandleFunc("/api/v1/alertmanager/webhook", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: POST Alertmanager's webhook payload here", http.StatusMethodNotAllowed)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>cpra-agent</title></head><body><h1>cpra-agent</h1>
<ul><li><a href="metrics">metrics</a></li><li><a href="-/healthy">healthy</a></li><li><a href="-/ready">ready</a></li>
<li>probe?monitor=NAME: one monitor's latest result</li>
<li><a href="api/v1/cluster">api/v1/cluster</a>: the replicas and their shares of the monitors</li>
<li>POST api/v1/alertmanager/webhook: alerts from Alertmanager, dispatched as codes</li></ul>
</body></html>`)
	})
	return mux
}

// probe serves GET /probe?monitor=NAME: the monitor's latest result in the
// Prometheus exposition format, as blackbox_exporter answers a probe, so a
// scrape job can watch chosen monitors with relabelling instead of their
// opting in to series on /metrics. It works for every monitor of this
// shard and reads the world on the owner goroutine; it never runs a check.
func (a *Agent) probe(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("monitor")
	if name == "" {
		http.Error(w, "missing parameter: monitor (GET /probe?monitor=NAME)", http.StatusBadRequest)
		return
	}
	if !a.Ready() {
		http.Error(w, notReady, http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, ok, err := a.Lookup(ctx, name)
	switch {
	case err != nil:
		http.Error(w, "the agent did not answer in time: "+err.Error(), http.StatusServiceUnavailable)
		return
	case !ok:
		msg := fmt.Sprintf("unknown monitor %q: not in the monitor file", name)
		if a.cfg.Shard.Count > 1 {
			msg += fmt.Sprintf(", or in another shard (this agent is shard.index %d of shard.count %d)", a.cfg.Shard.Index, a.cfg.Shard.Count)
		}
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.ProbeCollector(owner.MonitorSample(v)))
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// pprofHandler serves the standard profiles on their own listener.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
