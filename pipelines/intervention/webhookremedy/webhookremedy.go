package webhookremedy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
)

// Kind registers the "webhook" intervention.
var Kind = intervention.Kind{Name: "webhook", Parse: parseRemedy}

const (
	// maxSnippet is how much of a failed response's body goes into the error.
	maxSnippet = 200
	// maxDrain bounds how much of a response body is read so that the
	// connection can be reused.
	maxDrain = 1 << 20
)

type config struct {
	URL                 string            `yaml:"url"`
	Method              string            `yaml:"method"`
	Headers             map[string]string `yaml:"headers"`
	Body                string            `yaml:"body"`
	TLSConfig           certs.Config      `yaml:"tls_config"`
	intervention.Policy `yaml:",inline"`
	httpclient.Auth     `yaml:",inline"` // basic_auth, authorization, oauth2
}

type header struct {
	name  string
	value *template.Template
}

type remedy struct {
	method  string
	url     *template.Template
	invalid string // Destination when the URL cannot be rendered
	headers []header
	body    *template.Template // nil sends the default JSON object
	policy  intervention.Policy
	client  *http.Client
}

// sample is the data templates are tried with at load time.
func sample() intervention.Request {
	return intervention.Request{Monitor: "monitor", State: "down", Reason: "status 503", Groups: []string{"group"}, Attempt: 1}
}

func parseRemedy(b spec.Block) (any, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		// Semantic checks assume well-typed values; report these first.
		return nil, err
	}
	r := &remedy{method: cfg.Method, invalid: fallbackDestination(cfg.URL), policy: cfg.Policy.WithDefaults()}
	var errs []error
	if err := cfg.Policy.Validate(b); err != nil {
		errs = append(errs, err)
	}
	if r.method == "" {
		r.method = http.MethodPost
	} else if !httpguts.ValidHeaderFieldName(r.method) {
		errs = append(errs, b.Errorf("method", "invalid HTTP method %q", r.method))
	}

	if cfg.URL == "" {
		errs = append(errs, b.Errorf("url", "required"))
	} else if t, err := compile("url", cfg.URL); err != nil {
		errs = append(errs, b.Errorf("url", "%v", err))
	} else if _, err := renderURL(t, sample()); err != nil {
		// Checked with sample data: a URL whose scheme or host comes from
		// the request is not worth supporting.
		errs = append(errs, b.Errorf("url", "%v", err))
	} else {
		r.url = t
	}

	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Headers)) {
		line, field := b.NestedLine("headers", name), "headers."+name
		canon := http.CanonicalHeaderKey(name)
		if !httpguts.ValidHeaderFieldName(name) {
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "invalid header name"})
			continue
		}
		if seen[canon] {
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "duplicate header (names are case-insensitive)"})
			continue
		}
		seen[canon] = true
		t, err := compile(field, cfg.Headers[name])
		if err == nil {
			_, err = render(t, sample())
		}
		if err != nil {
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: err.Error()})
			continue
		}
		r.headers = append(r.headers, header{canon, t})
	}

	if cfg.Body != "" {
		t, err := compile("body", cfg.Body)
		if err == nil {
			_, err = render(t, sample())
		}
		if err != nil {
			errs = append(errs, b.Errorf("body", "%v", err))
		}
		r.body = t
	}
	errs = append(errs, cfg.Auth.Validate(b)...)
	tlsCfg, err := cfg.TLSConfig.Build(b)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Auth.Set() && seen["Authorization"] {
		errs = append(errs, b.Errorf("headers", "Authorization is set by basic_auth, authorization or oauth2; not both"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	r.client = &http.Client{
		Transport: cfg.Auth.Wrap(&http.Transport{
			// Webhooks often leave the network; honour the usual proxy variables.
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       tlsCfg,
		}),
		// A redirect would turn a POST into a GET and drop the body, so it
		// fails the attempt instead of silently calling something else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r, nil
}

// Policy returns the retry and timeout policy with defaults applied.
func (r *remedy) Policy() intervention.Policy { return r.policy }

// Destination returns "webhook:" and the scheme, host (with any port) and path of
// the URL rendered for req, the part that errors name too. When the URL
// cannot be rendered for req, it falls back to the scheme and host of the
// url as written, or "webhook:invalid" when they are themselves templated.
// A URL whose host depends on the request gives a destination per host.
func (r *remedy) Destination(req intervention.Request) string {
	if u, err := renderURL(r.url, req); err == nil {
		return "webhook:" + target(u)
	}
	return r.invalid
}

// fallbackDestination is the destination of the url template's text
// parsed as a URL, for when it cannot be rendered.
func fallbackDestination(text string) string {
	u, err := url.Parse(strings.TrimSpace(text))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Contains(u.Host, "{{") {
		return "webhook:invalid"
	}
	return "webhook:" + target(u)
}

// target is the endpoint a remedy calls: scheme, host and path, without
// credentials, query or fragment. The path is part of it because one
// service often exposes several repairs (/repair/web, /repair/db): one
// failing must not trip the breaker of the others.
func target(u *url.URL) string { return site(u) + u.EscapedPath() }

// Apply sends one request and succeeds on a 2xx response.
func (r *remedy) Apply(ctx context.Context, req intervention.Request) error {
	u, err := renderURL(r.url, req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	body, err := r.renderBody(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, r.method, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s %s: %w", r.method, site(u), err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", httpclient.UserAgent)
	for _, h := range r.headers {
		v, err := render(h.value, req)
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if h.name == "Host" {
			hreq.Host = v // net/http ignores Host in the header map
			continue
		}
		hreq.Header.Set(h.name, v)
	}

	resp, err := r.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("webhook %s %s: %w", r.method, site(u), httpclient.UnwrapURLError(err)) // without the URL, which may hold a token
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxSnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) // for connection reuse
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	msg := strings.TrimSpace(strings.ToValidUTF8(string(snippet), ""))
	if msg == "" {
		return fmt.Errorf("webhook returned status %d", resp.StatusCode)
	}
	return fmt.Errorf("webhook returned status %d: %s", resp.StatusCode, msg)
}

func (r *remedy) renderBody(req intervention.Request) ([]byte, error) {
	if r.body != nil {
		s, err := render(r.body, req)
		return []byte(s), err
	}
	groups := req.Groups
	if groups == nil {
		groups = []string{} // [] rather than null for receivers
	}
	return json.Marshal(struct {
		Monitor string   `json:"monitor"`
		State   string   `json:"state"`
		Reason  string   `json:"reason"`
		Groups  []string `json:"groups"`
		Attempt int      `json:"attempt"`
	}{req.Monitor, req.State, req.Reason, groups, req.Attempt})
}

// funcs are the template functions beyond text/template's builtins.
func funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		// join takes the separator first so that it works in pipelines:
		// {{.Groups | join ","}}.
		"join": func(sep string, elems []string) string { return strings.Join(elems, sep) },
	}
}

// compile parses text as a template named after its config key, so that
// errors read "template: body:3: ...".
func compile(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(funcs()).Option("missingkey=error").Parse(text)
}

func render(t *template.Template, req intervention.Request) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, req); err != nil {
		return "", err
	}
	return b.String(), nil
}

func renderURL(t *template.Template, req intervention.Request) (*url.URL, error) {
	s, err := render(t, req)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", httpclient.UnwrapURLError(err)) // without the URL, which may hold a token
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("missing host")
	}
	return u, nil
}

// site is the part of a webhook URL that is safe to log.
func site(u *url.URL) string { return u.Scheme + "://" + u.Host }
