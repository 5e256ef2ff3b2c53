package amwebhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// CheckConfig reads the bearer token file, so that a missing or empty one
// stops the agent (and fails --config.check) rather than every request.
// It returns how the endpoint authenticates, for the log.
func CheckConfig(cfg config.Agent) (auth string, err error) {
	var ways []string
	if f := cfg.AlertmanagerWebhook.BearerTokenFile; f != "" {
		if _, err := readBearerToken(f); err != nil {
			return "", fmt.Errorf("alertmanager_webhook.bearer_token_file: %w", err)
		}
		ways = append(ways, "bearer token")
	}
	users, certs := parseWebAuth(cfg.Web.ConfigFile)
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

// webConfig is what the handler needs of the web configuration: whether
// it has basic auth users (exporter-toolkit then checks every request's
// credentials before any handler runs) and whether it verifies client
// certificates. exporter-toolkit reads the file on every request, so a
// change applies at once; the handler follows it by looking at the file's
// modification time and size, and parses it again only when they change.
type webConfig struct {
	path string

	mu           sync.Mutex
	read         bool
	modTime      time.Time
	size         int64
	users, certs bool
}

func (c *webConfig) auth() (users, certs bool) {
	if c.path == "" {
		return false, false
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read || !fi.ModTime().Equal(c.modTime) || fi.Size() != c.size {
		c.users, c.certs = parseWebAuth(c.path)
		c.read, c.modTime, c.size = true, fi.ModTime(), fi.Size()
	}
	return c.users, c.certs
}

// parseWebAuth reports whether the web configuration at path has basic
// auth users, and whether it verifies client certificates.
func parseWebAuth(path string) (users, certs bool) {
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
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (result string, ok bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return "", true // a client certificate the web configuration's CA verified
	}
	users, _ := h.web.auth()
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
