package httpcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/httpclient"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/hostconns"
)

// Kind registers the "http" check.
var Kind = pulse.Kind{Name: "http", AddressKeys: []string{"url"}, Parse: parse, Build: build, Address: address}

const (
	// maxDrain bounds how much of a response body is read. Reading the body
	// to its end lets the connection be reused; past this much it is cheaper
	// to drop the connection than to keep reading.
	maxDrain = 1 << 20
	// idleConnTimeout closes connections unused this long. Idle
	// connections are bounded by the per-host limits (package hostconns):
	// a host never has more connections than checks it ran at once.
	idleConnTimeout = 90 * time.Second
)

type config struct {
	URL              string            `yaml:"url"`
	Method           string            `yaml:"method"`
	Headers          map[string]string `yaml:"headers"`
	Body             string            `yaml:"body"`
	ValidStatusCodes []int             `yaml:"valid_status_codes"`
	FollowRedirects  *bool             `yaml:"follow_redirects"`
	TLSConfig        certs.Config      `yaml:"tls_config"`
	Retries          int               `yaml:"retries"`
	ProxyURL         string            `yaml:"proxy_url"`
	EnableHTTP2      *bool             `yaml:"enable_http2"` // default true, as Prometheus's
	httpclient.Auth  `yaml:",inline"`  // basic_auth, authorization, oauth2

	// Response assertions (blackbox_exporter's names where it has them).
	FailIfBodyMatchesRegexp    []string        `yaml:"fail_if_body_matches_regexp"`
	FailIfBodyNotMatchesRegexp []string        `yaml:"fail_if_body_not_matches_regexp"`
	FailIfHeaderMatches        []rawHeaderRule `yaml:"fail_if_header_matches"`
	FailIfHeaderNotMatches     []rawHeaderRule `yaml:"fail_if_header_not_matches"`
	FailIfBodyJSONNotMatches   []string        `yaml:"fail_if_body_json_not_matches"`
	MaxResponseTime            *spec.Duration  `yaml:"max_response_time"`
	BodySizeLimit              string          `yaml:"body_size_limit"`
	TLSExpiryWarning           *spec.Duration  `yaml:"tls_expiry_warning"`

	// MaxConnectionsPerHost lowers the agent-wide ceiling of concurrent
	// connections to this monitor's host (connections.max_per_host).
	MaxConnectionsPerHost int `yaml:"max_connections_per_host"`
}

// prober holds everything but the URL, so monitors that differ only in
// their URL share it and its connection pool.
type prober struct {
	method  string
	header  http.Header
	host    string // Host header override; empty keeps the URL's host
	body    string
	valid   []int // empty means any 2xx
	retries int
	assert  assertions
	client  *http.Client
	limits  *hostconns.Limits
	ceiling int // max_connections_per_host; 0: the agent's
	// fast, when set, runs plain-HTTP checks on the worker's goroutine
	// (fast.go): the prober has no proxy and no authentication.
	fast            *fastClient
	followRedirects bool
}

// settings are a validated block, ready for build.
type settings struct {
	cfg    config
	header http.Header
	host   string
	proxy  *url.URL
	assert assertions
	tls    *tls.Config
}

// parse validates the block. What holds connections and registers series
// waits for build.
func parse(b spec.Block) (any, string, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		// Semantic checks assume well-typed values; report these first.
		return nil, "", err
	}
	var errs []error
	if _, err := address(b); err != nil {
		errs = append(errs, err)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	} else if !httpguts.ValidHeaderFieldName(cfg.Method) {
		errs = append(errs, b.Errorf("method", "invalid HTTP method %q", cfg.Method))
	}
	header, host, err := buildHeader(b, cfg.Headers)
	if err != nil {
		errs = append(errs, err)
	}
	for i, code := range cfg.ValidStatusCodes {
		if code < 100 || code > 599 {
			errs = append(errs, &spec.Error{
				Line:  itemLine(b, "valid_status_codes", i),
				Field: fmt.Sprintf("valid_status_codes[%d]", i),
				Msg:   fmt.Sprintf("must be an HTTP status code (100-599), got %d", code),
			})
		}
	}
	if cfg.Retries < 0 {
		errs = append(errs, b.Errorf("retries", "must be 0 or more, got %d", cfg.Retries))
	}
	if cfg.MaxConnectionsPerHost < 0 {
		errs = append(errs, b.Errorf("max_connections_per_host", "must be 0 (the agent's connections.max_per_host) or more, got %d", cfg.MaxConnectionsPerHost))
	}
	var proxy *url.URL
	if cfg.ProxyURL != "" {
		if proxy, err = parseURL(cfg.ProxyURL, "http", "https", "socks5", "socks5h"); err != nil {
			errs = append(errs, b.Errorf("proxy_url", "%v", err))
		}
	}
	assert, aerrs := parseAssertions(b, cfg)
	errs = append(errs, aerrs...)
	tlsCfg, err := cfg.TLSConfig.Build(b)
	if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.Auth.Validate(b)...)
	if cfg.Auth.Set() && header.Get("Authorization") != "" {
		errs = append(errs, b.Errorf("headers", "Authorization is set by basic_auth, authorization or oauth2; not both"))
	}
	if len(errs) > 0 {
		return nil, "", errors.Join(errs...)
	}
	return &settings{cfg: cfg, header: header, host: host, proxy: proxy, assert: assert, tls: tlsCfg}, cfg.URL, nil
}

// build makes the prober: its clients, and the connection series it
// shares with every other http prober.
func build(v any, deps kind.Deps) (pulse.Prober, error) {
	s := v.(*settings)
	cfg, header, host, proxy, assert := s.cfg, s.header, s.host, s.proxy, s.assert
	deps = deps.WithDefaults()
	conns, err := registerConnMetrics(deps.Registerer, deps.HostConns.Config().Budget, deps.Logger)
	if err != nil {
		return nil, err
	}
	p := &prober{
		limits:  deps.HostConns,
		ceiling: cfg.MaxConnectionsPerHost,
		assert:  assert,
		method:  cfg.Method,
		header:  header,
		host:    host,
		body:    cfg.Body,
		valid:   cfg.ValidStatusCodes,
		retries: cfg.Retries,
		client:  newClient(cfg, proxy, s.tls, deps.HostConns.Config(), conns),

		followRedirects: cfg.FollowRedirects == nil || *cfg.FollowRedirects,
	}
	if proxy == nil && !cfg.Auth.Set() {
		p.fast = newFastClient(conns, conns.dial((&net.Dialer{KeepAlive: 30 * time.Second}).DialContext), p.method, p.header, p.body)
	}
	return p, nil
}

// address validates the url key alone.
func address(b spec.Block) (string, error) {
	var raw string
	n := b.Sub("url").Node
	if n != nil {
		if err := spec.DecodeNode(n, &raw, "url"); err != nil {
			return "", err
		}
	}
	if raw == "" {
		return "", b.Errorf("url", "required")
	}
	if _, err := parseURL(raw, "http", "https"); err != nil {
		return "", b.Errorf("url", "%v", err)
	}
	return raw, nil
}

func newClient(cfg config, proxy *url.URL, tlsCfg *tls.Config, limits hostconns.Config, conns *connMetrics) *http.Client {
	perHost := limits.Max
	if cfg.MaxConnectionsPerHost > 0 {
		perHost = min(perHost, cfg.MaxConnectionsPerHost)
	}
	tr := &http.Transport{
		// No timeouts here: the probe's context carries the monitor's,
		// started once the check holds a connection slot.
		DialContext:       conns.dial((&net.Dialer{KeepAlive: 30 * time.Second}).DialContext),
		ForceAttemptHTTP2: cfg.EnableHTTP2 == nil || *cfg.EnableHTTP2,
		// No MaxConnsPerHost: the per-host limits (Admit) bound the
		// checks in flight to a host, so the transport never makes a
		// check wait for a connection inside the target's timeout.
		MaxIdleConns:          limits.Budget, // 0: no bound beyond the hosts' limits
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsCfg, // no server name: the URL's host
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	c := &http.Client{Transport: cfg.Auth.Wrap(tr)}
	if cfg.FollowRedirects != nil && !*cfg.FollowRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// Admit waits for a connection slot to t's host (pulse.Gated).
func (p *prober) Admit(ctx context.Context, t pulse.Target, by time.Time) (pulse.Slot, error) {
	h, err := p.limits.Acquire(ctx, pulse.AuthorityOf(t.Address), p.ceiling, by)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// KeepsDeadline says a check of t bounds each step by its deadline itself
// (pulse.DeadlineKeeper): one attempt on the fast path, whose socket
// deadlines are the timeout.
func (p *prober) KeepsDeadline(t pulse.Target) bool {
	return p.retries == 0 && p.fastEligible(t.Address)
}

// Probe makes up to 1+retries attempts within ctx's deadline.
func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	start := time.Now()
	return pulse.Retry(ctx, p.retries, func(ctx context.Context) pulse.Result { return p.attempt(ctx, t.Address, start) })
}

func (p *prober) attempt(ctx context.Context, address string, start time.Time) (res pulse.Result) {
	if p.fastEligible(address) {
		r, err := p.fastAttempt(ctx, address, start)
		if err == nil {
			return r
		}
		// errUseNetHTTP: a redirect to follow, or a path to escape.
		var cancel context.CancelFunc
		ctx, cancel = pulse.Enforced(ctx)
		defer cancel()
	}
	return p.netAttempt(ctx, address, start)
}

// netAttempt is one attempt through net/http.
func (p *prober) netAttempt(ctx context.Context, address string, start time.Time) (res pulse.Result) {
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	// The trace tells where a failed request stood (dialling: no answer
	// from the host; sent; answered: the first byte of any response,
	// including one a redirect leads away from) and where the time went.
	st := newAttemptTrace()
	defer func() { res.Phases = st.phases(res.Phases) }()
	tctx := httptrace.WithClientTrace(ctx, &st.trace)
	req, err := http.NewRequestWithContext(tctx, p.method, address, body)
	if err != nil {
		return pulse.Failf("invalid request: %v", err) // nothing was sent
	}
	// Shared, never written: net/http only reads a request's header, and
	// copies it for redirects.
	req.Header = p.header
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		failed := pulse.Failf("%s %s: %s", p.method, shortURL(req.URL), describe(ctx, err, start))
		cancel := canceled(ctx, err)
		answered := st.at[evFirstByte].Load() != 0
		failed.Unreachable = !answered && !cancel
		if !cancel && !answered && st.at[evGotConn].Load() == 0 {
			failed.HostDown = pulse.HostDownError(err) || (st.at[evConnectStart].Load() != 0 && timedOut(ctx, err))
		}
		return failed
	}
	defer resp.Body.Close()
	a := &p.assert
	var got []byte
	if a.readsBody() || a.bodyLimit > 0 {
		limit := int64(maxDrain)
		if a.bodyLimit > 0 {
			limit = a.bodyLimit + 1 // one more byte tells a body over the limit
		}
		got, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	} else {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	}
	if !p.validStatus(resp.StatusCode) {
		return pulse.Failf("status %d", resp.StatusCode)
	}
	if err != nil {
		// A server that stalls or breaks mid-body is not healthy.
		return pulse.Failf("%s %s: reading body: %s", p.method, shortURL(req.URL), describe(ctx, err, start))
	}
	took := time.Since(st.began)
	earliest, tlsFailure := certs.Expiry(resp.TLS, a.tlsWarning, time.Now())
	expiry := certs.Unix(earliest)
	passed := pulse.Result{OK: true, CertExpiry: expiry}
	fail := func(msg string) pulse.Result {
		r := pulse.Failf("%s", msg)
		r.CertExpiry = expiry
		return r
	}
	switch {
	case a.bodyLimit > 0 && int64(len(got)) > a.bodyLimit:
		return fail(fmt.Sprintf("body larger than %d bytes (body_size_limit)", a.bodyLimit))
	case tlsFailure != "":
		return fail(tlsFailure)
	}
	if msg := a.checkHeaders(resp.Header); msg != "" {
		return fail(msg)
	}
	if msg := a.checkBody(got); msg != "" {
		return fail(msg)
	}
	if a.maxResponseTime > 0 && took > a.maxResponseTime {
		return fail(fmt.Sprintf("response took %v, more than max_response_time %v", took.Round(time.Millisecond), a.maxResponseTime))
	}
	return passed
}

// The events of one request that attemptTrace times.
const (
	evDNSStart = iota
	evDNSDone
	evConnectStart
	evConnectDone
	evTLSStart
	evTLSDone
	evGotConn
	evWrote
	evFirstByte
	numEvents
)

// attemptTrace records how far one request got and when, in nanoseconds
// since it began (0: not reached). Its hooks may run on the transport's
// dialling goroutine, hence the atomics.
type attemptTrace struct {
	began time.Time
	at    [numEvents]atomic.Int64
	trace httptrace.ClientTrace
}

func newAttemptTrace() *attemptTrace {
	st := &attemptTrace{began: time.Now()}
	st.trace = httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { st.mark(evDNSStart) },
		DNSDone:              func(httptrace.DNSDoneInfo) { st.mark(evDNSDone) },
		ConnectStart:         func(string, string) { st.mark(evConnectStart) },
		ConnectDone:          func(string, string, error) { st.mark(evConnectDone) },
		TLSHandshakeStart:    func() { st.mark(evTLSStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { st.mark(evTLSDone) },
		GotConn:              func(httptrace.GotConnInfo) { st.mark(evGotConn) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { st.mark(evWrote) },
		GotFirstResponseByte: func() { st.mark(evFirstByte) },
	}
	return st
}

// mark records the first time of an event (a redirect's request repeats
// them; the first request's connection phases are the ones that count).
func (st *attemptTrace) mark(ev int) {
	st.at[ev].CompareAndSwap(0, max(int64(time.Since(st.began)), 1))
}

// phases fills the target's phases into ph, blackbox_exporter's way: a
// phase that started and did not end ran until now.
func (st *attemptTrace) phases(ph pulse.Phases) pulse.Phases {
	end := max(int64(time.Since(st.began)), 1)
	span := func(from, to int) time.Duration {
		a, b := st.at[from].Load(), st.at[to].Load()
		switch {
		case a == 0:
			return 0
		case b == 0:
			b = end
		}
		return time.Duration(max(b-a, 0))
	}
	ph[pulse.PhaseResolve] = span(evDNSStart, evDNSDone)
	ph[pulse.PhaseConnect] = span(evConnectStart, evConnectDone)
	ph[pulse.PhaseTLS] = span(evTLSStart, evTLSDone)
	ph[pulse.PhaseProcessing] = span(evWrote, evFirstByte)
	if first := st.at[evFirstByte].Load(); first != 0 {
		ph[pulse.PhaseTransfer] = time.Duration(max(end-first, 0))
	}
	return ph
}

func timedOut(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
}

func (p *prober) validStatus(code int) bool {
	if len(p.valid) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(p.valid, code)
}

// canceled reports whether err is ctx's cancellation (the agent stopping)
// rather than its deadline, which describe reports as a timeout.
func canceled(ctx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, context.Canceled)
}

// describe turns a transport error into the tail of a short reason: the
// innermost useful message, without the URL and dial details that the
// reason already names.
func describe(ctx context.Context, err error, start time.Time) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		waited := time.Since(start)
		if deadline, ok := ctx.Deadline(); ok && deadline.Before(time.Now()) {
			waited = deadline.Sub(start) // the time allowed, not scheduling noise
		}
		return "timeout after " + waited.Round(time.Millisecond).String()
	}
	if canceled(ctx, err) {
		return "canceled"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("resolve %s: %s", dnsErr.Name, dnsErr.Err)
	}
	err = httpclient.UnwrapURLError(err)
	if e, ok := err.(*net.OpError); ok {
		err = e.Err
	}
	if e, ok := err.(*os.SyscallError); ok {
		err = e.Err
	}
	return err.Error()
}

// shortURL is u without credentials, query or fragment.
func shortURL(u *url.URL) string {
	s := *u
	s.User, s.RawQuery, s.Fragment, s.RawFragment = nil, "", "", ""
	s.ForceQuery = false
	return s.String()
}

// parseURL parses an absolute URL with one of the given schemes and a host.
func parseURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", httpclient.UnwrapURLError(err))
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, fmt.Errorf("scheme must be %s, got %q", orList(schemes), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("missing host in %q", raw)
	}
	return u, nil
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// buildHeader validates and canonicalises the configured headers and adds
// the default User-Agent. A Host header becomes the request's Host, since
// net/http ignores it in the header map.
func buildHeader(b spec.Block, in map[string]string) (http.Header, string, error) {
	h := http.Header{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(in)) {
		value := in[name]
		line := b.NestedLine("headers", name)
		field := "headers." + name
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "invalid header name"})
		case !httpguts.ValidHeaderFieldValue(value):
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "invalid header value: control characters are not allowed"})
		case h[http.CanonicalHeaderKey(name)] != nil:
			errs = append(errs, &spec.Error{Line: line, Field: field, Msg: "duplicate header (names are case-insensitive)"})
		default:
			h.Set(name, value)
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", httpclient.UserAgent)
	}
	host := h.Get("Host")
	h.Del("Host")
	return h, host, errors.Join(errs...)
}

// itemLine is the line of the i-th item of the list under key.
func itemLine(b spec.Block, key string, i int) int {
	if n := b.Sub(key).Node; n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i].Line
	}
	return b.LineOf(key)
}
