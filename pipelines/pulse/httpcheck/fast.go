package httpcheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// The fast path: plain-HTTP checks without a proxy or authentication run
// on the worker's own goroutine, on connections the prober keeps itself,
// sending a request prebuilt per prober and parsing the answer with
// fasthttp. net/http hands
// every request to two goroutines of its connection and back; against
// targets that take tens of milliseconds, those hand-offs (each a wake-up
// of an idle thread) cost twice what the request itself does
// (cpra-scalebench -keep-floor, docs/performance.md). Everything else
// (https, HTTP/2, proxies, authentication, user information in the URL, a
// path to escape, a redirect the check follows) goes through net/http.

// fastConn is one kept-alive connection of the fast path. Its Read marks
// when the first byte of an answer arrived, for the phases.
type fastConn struct {
	net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	idleSince time.Time
	firstByte time.Time // zero until a byte of the current answer arrived
}

func (c *fastConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.firstByte.IsZero() {
		c.firstByte = time.Now()
	}
	return n, err
}

// fastClient is one prober's fast path: its idle connections, per host
// and port, and its request prebuilt but for the request line and the
// Host header. The per-host limits (hostconns) bound the connections in
// use; the idle ones are at most as many, and close after idleConnTimeout.
type fastClient struct {
	mu        sync.Mutex
	idle      map[string]*idleConns
	lastSweep time.Time
	dial      dialFunc
	conns     *connMetrics // for the open-files budget

	tail  []byte // the other header lines, the blank line and the body
	close bool   // a Connection: close header is configured
}

func newFastClient(conns *connMetrics, dial dialFunc, method string, header http.Header, body string) *fastClient {
	var tail bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if name == "Content-Length" || name == "Transfer-Encoding" {
			continue // the body's own length is sent, as net/http does
		}
		for _, v := range header[name] {
			tail.WriteString(name + ": " + v + "\r\n")
		}
	}
	switch {
	case body != "", method == http.MethodPost, method == http.MethodPut, method == http.MethodPatch:
		fmt.Fprintf(&tail, "Content-Length: %d\r\n", len(body))
	}
	tail.WriteString("\r\n" + body)
	return &fastClient{
		idle: map[string]*idleConns{}, lastSweep: time.Now(), dial: dial, conns: conns,
		tail: tail.Bytes(), close: strings.EqualFold(header.Get("Connection"), "close"),
	}
}

// idleConns are one key's idle connections, newest last. The map holds a
// pointer, so taking and returning a connection is one lookup and no map
// write.
type idleConns struct{ conns []*fastConn }

// get returns an idle connection to key, newest first, or nil.
func (p *fastClient) get(key string, now time.Time) *fastConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	ic := p.idle[key]
	if ic == nil {
		return nil
	}
	for n := len(ic.conns); n > 0; n = len(ic.conns) {
		c := ic.conns[n-1]
		ic.conns[n-1] = nil
		ic.conns = ic.conns[:n-1] // an emptied list stays until the sweep
		if now.Sub(c.idleSince) < idleConnTimeout {
			return c
		}
		c.Close()
	}
	return nil
}

// put keeps c for reuse, and now and then closes connections idle too
// long.
func (p *fastClient) put(key string, c *fastConn, now time.Time) {
	if p.conns != nil && p.conns.crowded() {
		c.Close() // near the open-files budget: room for new connections first
		return
	}
	c.idleSince = now
	p.mu.Lock()
	defer p.mu.Unlock()
	ic := p.idle[key]
	if ic == nil {
		ic = &idleConns{}
		p.idle[key] = ic
	}
	ic.conns = append(ic.conns, c)
	if now.Sub(p.lastSweep) < idleConnTimeout/3 {
		return
	}
	p.lastSweep = now
	for k, ic := range p.idle {
		kept := ic.conns[:0]
		for _, c := range ic.conns {
			if now.Sub(c.idleSince) < idleConnTimeout {
				kept = append(kept, c)
			} else {
				c.Close()
			}
		}
		clear(ic.conns[len(kept):])
		ic.conns = kept
		if len(kept) == 0 {
			delete(p.idle, k)
		}
	}
}

func (p *fastClient) open(ctx context.Context, addr string) (*fastConn, error) {
	nc, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &fastConn{Conn: nc}
	c.r = bufio.NewReaderSize(c, 4096)
	c.w = bufio.NewWriterSize(nc, 4096)
	return c, nil
}

// fastEligible reports whether address goes through the fast path: plain
// HTTP without user information in the URL (net/http turns that into
// basic authentication).
func (p *prober) fastEligible(address string) bool {
	rest, ok := strings.CutPrefix(address, "http://")
	if p.fast == nil || !ok {
		return false
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	return !strings.Contains(authority, "@")
}

// interruptAfter is the shortest time left to a fast check's deadline for
// which the agent stopping interrupts it rather than letting it end there.
const interruptAfter = 10 * time.Second

// errUseNetHTTP says the check goes through net/http after all: the answer
// was a redirect the check follows (net/http follows it, wherever it
// leads), or the URL's path has characters only net/http escapes.
var errUseNetHTTP = errors.New("use net/http")

// requestTarget splits a plain-HTTP address into the request line's target
// (its path and query, without a fragment; "" for none) and its
// authority. It reports false when the target has bytes that must be
// escaped on the wire.
func requestTarget(address string) (target, authority string, ok bool) {
	rest := strings.TrimPrefix(address, "http://")
	authority, target = rest, "/"
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, target = rest[:i], rest[i:]
	}
	if j := strings.IndexByte(target, '#'); j >= 0 {
		target = target[:j]
	}
	if target == "" {
		target = "/"
	}
	for i := range len(target) {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return "", "", false
		}
	}
	return target, authority, true
}

// fastAttempt is attempt on the fast path. It returns errUseNetHTTP when
// the check must go through net/http instead.
func (p *prober) fastAttempt(ctx context.Context, address string, start time.Time) (pulse.Result, error) {
	target, authority, ok := requestTarget(address)
	if !ok {
		return pulse.Result{}, errUseNetHTTP
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.SkipBody = p.method == http.MethodHead
	key := pulse.AuthorityOf(address)
	dialAddr := key
	if _, _, err := net.SplitHostPort(key); err != nil {
		dialAddr = net.JoinHostPort(strings.Trim(key, "[]"), "80") // no port: http's
	}
	host := p.host
	if host == "" {
		host = authority
	}
	send := func(w *bufio.Writer) error {
		w.WriteString(p.method)
		w.WriteByte(' ')
		if target[0] != '/' {
			w.WriteByte('/') // "?q" alone: the root's query
		}
		w.WriteString(target)
		w.WriteString(" HTTP/1.1\r\nHost: ")
		w.WriteString(host)
		w.WriteString("\r\n")
		w.Write(p.fast.tail)
		return w.Flush()
	}

	var ph pulse.Phases
	began := time.Now()
	deadline, _ := ctx.Deadline()
	c, reused := p.fast.get(key, began), true
	for attempt := 0; ; attempt++ {
		if c == nil {
			reused = false
			dialStart := time.Now()
			var err error
			dctx, cancel := pulse.Enforced(ctx) // name resolution need not keep the deadline
			c, err = p.fast.open(dctx, dialAddr)
			cancel()
			ph[pulse.PhaseConnect] = time.Since(dialStart)
			if err != nil {
				r := pulse.Failf("%s %s: %s", p.method, shortAddress(address), describe(ctx, err, start))
				r.Unreachable = !canceled(ctx, err)
				r.HostDown = r.Unreachable && (pulse.HostDownError(err) || timedOut(ctx, err))
				r.Phases = ph
				return r, nil
			}
		}
		r, keep, retry := p.exchange(ctx, c, send, resp, address, deadline, reused, start, &ph)
		if keep {
			p.fast.put(key, c, time.Now())
		} else {
			c.Close()
		}
		if retry && attempt == 0 {
			c = nil // a kept connection the server had closed: once more, on a new one
			continue
		}
		if r.OK || r.Reason != "" {
			return r, nil
		}
		return r, errUseNetHTTP
	}
}

// exchange sends the request on c and reads the answer into resp. keep says c may
// be reused; retry that c was a kept connection the server had already
// closed, so nothing was asked of the target. A zero Result with keep
// means the answer was a redirect to follow.
func (p *prober) exchange(ctx context.Context, c *fastConn, send func(*bufio.Writer) error, resp *fasthttp.Response,
	address string, deadline time.Time, reused bool, start time.Time, ph *pulse.Phases) (r pulse.Result, keep, retry bool) {
	if time.Until(deadline) > interruptAfter {
		// The agent stopping ends a long check at once; a shorter one
		// ends at its deadline, within the drain, without the cost of a
		// cancellation callback per check.
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
		defer stop()
	}
	if err := c.SetDeadline(deadline); err != nil {
		return pulse.Failf("%s %s: %v", p.method, shortAddress(address), err), false, false
	}
	c.firstByte = time.Time{}
	wrote := time.Now()
	err := send(c.w)
	a := &p.assert
	limit := maxDrain
	if a.bodyLimit > 0 {
		limit = int(a.bodyLimit)
	}
	if err == nil {
		err = resp.ReadLimitBody(c.r, limit)
	}
	end := time.Now()
	answered := !c.firstByte.IsZero()
	if answered {
		ph[pulse.PhaseProcessing] = c.firstByte.Sub(wrote)
		ph[pulse.PhaseTransfer] = end.Sub(c.firstByte)
	} else {
		ph[pulse.PhaseProcessing] = end.Sub(wrote)
	}
	tooLarge := errors.Is(err, fasthttp.ErrBodyTooLarge)
	if err != nil && !tooLarge {
		if reused && !answered && idempotent(p.method) && stale(err) {
			return pulse.Result{}, false, true
		}
		res := pulse.Failf("%s %s: %s", p.method, shortAddress(address), describeFast(ctx, err, start, answered))
		res.Unreachable = !answered && !canceled(ctx, err)
		res.Phases = *ph
		return res, false, false
	}
	keep = !tooLarge && !resp.ConnectionClose() && !p.fast.close
	status := resp.StatusCode()
	if p.followRedirects && isRedirect(status) && len(resp.Header.Peek("Location")) > 0 {
		return pulse.Result{}, keep, false
	}
	fail := func(msg string) pulse.Result {
		res := pulse.Failf("%s", msg)
		res.Phases = *ph
		return res
	}
	if !p.validStatus(status) {
		return fail(fmt.Sprintf("status %d", status)), keep, false
	}
	if tooLarge && a.bodyLimit > 0 {
		return fail(fmt.Sprintf("body larger than %d bytes (body_size_limit)", a.bodyLimit)), false, false
	}
	if a.hasHeaderRules() {
		h := http.Header{}
		for k, v := range resp.Header.All() {
			h.Add(string(k), string(v))
		}
		if msg := a.checkHeaders(h); msg != "" {
			return fail(msg), keep, false
		}
	}
	if a.readsBody() {
		if msg := a.checkBody(resp.Body()); msg != "" {
			return fail(msg), keep, false
		}
	}
	if took := end.Sub(wrote) + ph[pulse.PhaseConnect]; a.maxResponseTime > 0 && took > a.maxResponseTime {
		return fail(fmt.Sprintf("response took %v, more than max_response_time %v", took.Round(time.Millisecond), a.maxResponseTime)), keep, false
	}
	return pulse.Result{OK: true, Phases: *ph}, keep, false
}

// shortAddress is shortURL of an address, for a failure's reason.
func shortAddress(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return address
	}
	return shortURL(u)
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// idempotent reports whether a request may be sent again when its kept
// connection turns out closed (RFC 9110, 9.2.2), as net/http does.
func idempotent(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodConnect:
		return false
	}
	return true
}

// stale reports whether err on a kept connection, before any byte of an
// answer, says the server had closed it while idle.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed connection before returning the first response byte")
}

// describeFast is describe for the fast path's errors: a connection
// deadline is the check's timeout.
func describeFast(ctx context.Context, err error, start time.Time, answered bool) string {
	timeout := errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout)
	reason := describe(ctx, err, start)
	if timeout && !canceled(ctx, err) {
		if deadline, ok := ctx.Deadline(); ok {
			reason = "timeout after " + deadline.Sub(start).Round(time.Millisecond).String()
		}
	}
	if answered {
		return "reading body: " + reason // as net/http's path words it
	}
	return reason
}
