package alertmanagernotify

import (
	"crypto/tls"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
)

const (
	defaultTimeout        = 10 * time.Second
	defaultResendInterval = time.Minute
)

type config struct {
	URL             string            `yaml:"url"`
	Timeout         *spec.Duration    `yaml:"timeout"`         // nil means the default
	ResendInterval  *spec.Duration    `yaml:"resend_interval"` // nil means the default
	Headers         map[string]string `yaml:"headers"`
	Labels          map[string]string `yaml:"labels"`
	GeneratorURL    string            `yaml:"generator_url"`
	TLSConfig       certs.Config      `yaml:"tls_config"`
	httpclient.Auth `yaml:",inline"`  // basic_auth, authorization, oauth2, as Prometheus writes them
}

// settings is a validated config.
type settings struct {
	base         *url.URL
	timeout      time.Duration
	resend       time.Duration
	headers      http.Header
	auth         httpclient.Auth
	tls          *tls.Config
	labels       map[string]string
	generatorURL string
}

func parseConfig(b spec.Block) (settings, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		return settings{}, err
	}
	s := settings{timeout: defaultTimeout, resend: defaultResendInterval, auth: cfg.Auth}
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	var err error
	s.base, err = httpclient.ParseURL(b, "url", cfg.URL)
	add(err)
	if s.base != nil && (s.base.RawQuery != "" || s.base.Fragment != "") {
		add(b.Errorf("url", "must not have a query or fragment"))
	}
	if cfg.Timeout != nil {
		s.timeout = cfg.Timeout.Std()
		add(positive(b, "timeout", s.timeout))
	}
	if cfg.ResendInterval != nil {
		s.resend = cfg.ResendInterval.Std()
		add(positive(b, "resend_interval", s.resend))
	}
	s.headers, err = httpclient.ParseHeaders(b, cfg.Headers)
	add(err)
	errs = append(errs, cfg.Auth.Validate(b)...)
	s.tls, err = cfg.TLSConfig.Build(b)
	add(err)
	if cfg.Auth.Set() && s.headers.Get("Authorization") != "" {
		add(b.Errorf("headers", "Authorization is set by basic_auth, authorization or oauth2; not both"))
	}
	s.labels, err = parseLabels(b, cfg.Labels)
	add(err)
	if cfg.GeneratorURL != "" {
		u, err := httpclient.ParseURL(b, "generator_url", cfg.GeneratorURL)
		add(err)
		if u != nil {
			s.generatorURL = u.String()
		}
	}
	return s, errors.Join(errs...)
}

func positive(b spec.Block, key string, d time.Duration) error {
	if d <= 0 {
		return b.Errorf(key, "must be greater than zero")
	}
	return nil
}

func parseLabels(b spec.Block, in map[string]string) (map[string]string, error) {
	sub := b.Sub("labels")
	var errs []error
	out := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		switch {
		case !model.LegacyValidation.IsValidLabelName(name) || strings.HasPrefix(name, "__"):
			errs = append(errs, sub.Errorf(name, "invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"))
		case builtinLabel(name):
			errs = append(errs, sub.Errorf(name, "set by the notifier, cannot be configured"))
		case in[name] == "":
			errs = append(errs, sub.Errorf(name, "empty value"))
		default:
			out[name] = in[name]
		}
	}
	return out, spec.Prefix("labels", errors.Join(errs...))
}

// builtinLabel reports whether the notifier sets the label itself.
func builtinLabel(name string) bool {
	switch name {
	case "alertname", "monitor", "code", "severity", "groups", SubjectLabel:
		return true
	}
	return false
}
