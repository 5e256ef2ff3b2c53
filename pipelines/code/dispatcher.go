package code

import (
	"container/heap"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// RetryPolicy says how undelivered codes are retried.
type RetryPolicy struct {
	InitialBackoff time.Duration // first pause; doubled after each failure
	MaxBackoff     time.Duration
	MaxAge         time.Duration // give up (count and log as undeliverable) after this long
	AttemptTimeout time.Duration // cap on one delivery attempt
}

// KindOf is a notifier's kind, the part of its Destination before the
// colon, used as the `notifier` metric label.
func KindOf(n Notifier) string {
	d := n.Destination()
	if i := strings.IndexByte(d, ':'); i > 0 {
		return d[:i]
	}
	return d
}

// delivery is one notification to one notifier.
type delivery struct {
	n       domain.Notification
	to      Notifier
	attempt int
	first   time.Time
	due     time.Time // for retries
	// deferred is set the first time the queue refuses this delivery, so
	// cpra_backpressure_deferred_total counts deliveries, not attempts.
	deferred bool
	trial    bool // this attempt is a half-open breaker's trial
}

type outcome struct {
	d   *delivery
	err error
	// parked: the worker found the destination's breaker open and made no
	// attempt (the delivery was queued before it opened).
	parked bool
}

// flushRequest asks the loop to report when nothing more can be delivered
// before deadline.
type flushRequest struct {
	done     chan struct{}
	deadline time.Time
}

// Undelivered is a code still pending when the dispatcher closed: its
// receiver failed or its breaker was open until the end.
type Undelivered struct {
	Notification domain.Notification
	To           Notifier
	Attempts     int
	First        time.Time // when it was sent
}

// key orders deliveries: codes for one monitor to one destination are
// delivered one at a time, in the order they were sent, so red never
// overtakes yellow and green never overtakes a red being retried. It is the
// destination, not the instance: a reload that replaces a notifier (a new
// timeout) keeps the order between what the old and the new one send.
type key struct {
	dest    string
	subject domain.Subject
}

// Dispatcher is the code pipeline. Send never blocks and never drops: a
// code waits in memory while its receiver is slow or down, is retried with
// backoff, and is counted as undeliverable only after RetryPolicy.MaxAge.
//
// Destinations are bulkheads: each has at most a bounded number of
// deliveries in the pipeline (queued or running, see WithDestinationLimit),
// and destinations take turns at the queue, so a slow or hung receiver
// holds only its own share of the workers and delays only its own codes.
//
// Each notifier destination has a circuit breaker. While it is open, codes
// for that destination are held (in order, per subject) instead of being
// tried, so a dead receiver costs no workers: deliveries already queued
// when it opens are parked by the worker that picks them up, untried.
// After the open timeout one held code goes as the trial, and when the
// breaker closes every held code is released. Other destinations are
// unaffected.
type Dispatcher struct {
	pl       *pipeline.Pipeline[*delivery, outcome]
	policy   RetryPolicy
	breakers *pipeline.Breakers
	tracing  *telemetry.Tracing // from the pipeline config; nil records nothing
	log      *slog.Logger
	m        *series
	clock    clock.Clock

	mu       sync.Mutex
	intake   []*delivery
	retiring []Notifier
	wake     chan struct{}

	// Owned by the loop goroutine.
	lines map[key][]*delivery // head is in flight or waiting to retry
	dests map[string]*destination
	turns []string // destinations with ready deliveries, in turn order
	ready int      // ready deliveries over all destinations
	limit int      // deliveries per destination in the pipeline at once
	// published is what cpra_codes_pending last showed, by pendingStates.
	published [len(pendingStates)]int
	retries   retryHeap
	held      map[string][]*delivery // by destination, while its breaker is open
	pending   int                    // deliveries not yet finished
	inflight  int                    // deliveries handed to the pipeline, not yet finished
	users     map[Notifier]int       // deliveries not yet finished, by notifier
	retired   map[Notifier]bool      // closed once their last delivery finishes

	undelivered []Undelivered // what Close found still pending
	// leftStalled: the last flush ended with codes only stalled
	// destinations hold, so Close cancels their attempts at once.
	leftStalled atomic.Bool

	flush      chan flushRequest
	pendingReq chan chan []Undelivered
	stop       chan struct{}
	done       chan struct{}
}

// destination is one receiver's bulkhead, kept by the loop.
type destination struct {
	ready      []*delivery // heads waiting for the destination's turn
	inPipeline int         // queued or running
	pending    int         // deliveries not yet finished
	failed     bool        // its last attempt failed
	progress   time.Time   // last attempt finished, or work arrived while idle
}

// stallAfter is how long a destination may have deliveries in the
// pipeline without one finishing before shutdown stops waiting for it.
const stallAfter = 5 * time.Second

// DispatcherOption changes how NewDispatcher builds the dispatcher.
type DispatcherOption func(*Dispatcher)

// WithClock makes the dispatcher take time (backoff, breakers, ages) from
// c instead of the wall clock; tests move a clock.Fake.
func WithClock(c clock.Clock) DispatcherOption { return func(d *Dispatcher) { d.clock = c } }

// WithDestinationLimit bounds each destination's deliveries in the
// pipeline (queued or running) to n: its share of the workers and of the
// queue. The default is a quarter of the pool's maximum, at least 1.
func WithDestinationLimit(n int) DispatcherOption {
	return func(d *Dispatcher) {
		if n > 0 {
			d.limit = n
		}
	}
}

// NewDispatcher starts the code pipeline.
//
// Its series, and those of its pipeline and breakers, are registered on
// reg: cpra_codes_dispatched_total, cpra_code_resends_total and
// cpra_codes_pending are the dispatcher's own.
func NewDispatcher(cfg pipeline.Config, policy RetryPolicy, brk breaker.Config, reg prometheus.Registerer, log *slog.Logger, opts ...DispatcherOption) (*Dispatcher, error) {
	m, err := registerSeries(reg)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		policy:     policy,
		log:        log,
		m:          m,
		clock:      clock.Real,
		wake:       make(chan struct{}, 1),
		lines:      map[key][]*delivery{},
		dests:      map[string]*destination{},
		held:       map[string][]*delivery{},
		users:      map[Notifier]int{},
		retired:    map[Notifier]bool{},
		flush:      make(chan flushRequest),
		pendingReq: make(chan chan []Undelivered),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(d)
	}
	if d.limit == 0 {
		d.limit = max(1, cfg.MaxWorkers/4)
	}
	cfg.Name = telemetry.PipelineCode
	if cfg.Log == nil {
		cfg.Log = log
	}
	breakers, err := pipeline.NewBreakers(cfg.Name, brk, reg, log, cfg.Tracing)
	if err != nil {
		return nil, err
	}
	d.breakers = breakers
	d.tracing = cfg.Tracing
	pl, err := pipeline.New(cfg, d.deliver, reg)
	if err != nil {
		return nil, err
	}
	d.pl = pl
	for _, st := range pendingStates {
		m.pending.WithLabelValues(st).Set(0)
	}
	go d.loop()
	return d, nil
}

// Send queues n for each target. It never blocks.
func (d *Dispatcher) Send(n domain.Notification, notifiers []Notifier) {
	if len(notifiers) == 0 {
		return
	}
	now := d.clock.Now()
	d.mu.Lock()
	for _, t := range notifiers {
		d.intake = append(d.intake, &delivery{n: n, to: t, first: now})
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Retire closes each notifier once the deliveries already sent to it have
// finished: a reload no longer uses them. It never blocks.
func (d *Dispatcher) Retire(ns []Notifier) {
	if len(ns) == 0 {
		return
	}
	d.mu.Lock()
	d.retiring = append(d.retiring, ns...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// closeNotifier closes a retired notifier that has nothing left to send.
func (d *Dispatcher) closeNotifier(n Notifier) {
	delete(d.retired, n)
	ctx, cancel := context.WithTimeout(context.Background(), d.policy.AttemptTimeout)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		d.log.Warn("closing a notifier the configuration no longer uses", "destination", n.Destination(), "err", err)
	}
}

func (d *Dispatcher) deliver(ctx context.Context, dl *delivery) outcome {
	if !dl.trial && d.breakers.State(dl.to.Destination()) == breaker.Open {
		return outcome{d: dl, parked: true} // opened while this waited in the queue
	}
	ctx, cancel := context.WithTimeout(ctx, d.policy.AttemptTimeout)
	defer cancel()
	start := d.clock.Now()
	err := dl.to.Notify(ctx, dl.n)
	if dl.n.Trace.IsValid() {
		failed := ""
		if err != nil {
			failed = err.Error()
		}
		d.tracing.Record(dl.n.Trace, "code "+dl.n.Code.String(), start, d.clock.Now(), []attribute.KeyValue{
			attribute.String("cpra.monitor", dl.n.Monitor),
			attribute.String("cpra.code", dl.n.Code.String()),
			attribute.String("cpra.destination", dl.to.Destination()),
			attribute.Int("cpra.attempt", dl.attempt),
			telemetry.Keep,
		}, failed)
	}
	return outcome{d: dl, err: err}
}

func (d *Dispatcher) loop() {
	defer close(d.done)
	timer := d.clock.NewTimer()
	defer timer.Stop()
	var flushing []flushRequest
	for {
		d.takeIntake()
		now := d.clock.Now()
		d.submitReady(now)
		d.publishBacklog()
		next, waiting := d.nextWake(now)
		if waiting {
			timer.Reset(next)
		}
		flushing = slices.DeleteFunc(flushing, func(f flushRequest) bool {
			if d.flushed(now, f.deadline, next, waiting) {
				d.leftStalled.Store(d.pending > 0)
				if d.pending > 0 {
					d.log.Warn("flush: giving up on receivers that do not get their codes through; their codes are kept",
						"stalled", d.stalledDestinations(), "codes", d.pending, "deadline_in", f.deadline.Sub(now))
				}
				close(f.done)
				return true
			}
			return false
		})
		if len(flushing) > 0 && (!waiting || next.After(now.Add(time.Second))) {
			// A destination may stall while nothing else wakes the loop.
			timer.Reset(now.Add(time.Second))
		}
		select {
		case <-d.wake:
		case o := <-d.pl.Results():
			d.finish(o)
		case <-timer.C():
			now := d.clock.Now()
			d.retryDue(now)
			d.probeHeld(now)
		case f := <-d.flush:
			flushing = append(flushing, f)
		case reply := <-d.pendingReq:
			reply <- d.undeliveredNow()
		case <-d.stop:
			return
		}
	}
}

// pendingStates are the values of cpra_codes_pending's state label.
var pendingStates = [...]string{"in_flight", "ready", "retrying", "held", "behind"}

// publishBacklog sets cpra_codes_pending from the loop's own counts.
func (d *Dispatcher) publishBacklog() {
	held := 0
	for _, line := range d.held {
		held += len(line)
	}
	counts := [len(pendingStates)]int{d.inflight, d.ready, d.retries.Len(), held, 0}
	counts[4] = max(d.pending-counts[0]-counts[1]-counts[2]-counts[3], 0)
	for i, n := range counts {
		if n != d.published[i] {
			d.m.pending.WithLabelValues(pendingStates[i]).Set(float64(n))
			d.published[i] = n
		}
	}
}

// flushed reports whether a flush with this deadline is over: everything
// is delivered, or every destination with codes left is stalled (its
// breaker is not closed, its last attempt failed, or nothing it had in the
// pipeline finished for stallAfter) and has no attempt to make before the
// deadline. Healthy destinations are drained first; the rest is saved.
func (d *Dispatcher) flushed(now, deadline, next time.Time, waiting bool) bool {
	for dest, ds := range d.dests {
		switch {
		case ds.pending == 0:
		case !d.stalled(dest, ds, now):
			return false
		case len(ds.ready) > 0 && ds.inPipeline < d.limit:
			return false // goes now
		}
	}
	// A retry or a breaker's trial due before the deadline still goes.
	return d.pending == 0 || !waiting || next.After(deadline)
}

// stalledDestinations names the destinations with codes left, sorted.
func (d *Dispatcher) stalledDestinations() []string {
	var out []string
	for dest, ds := range d.dests {
		if ds.pending > 0 {
			out = append(out, dest)
		}
	}
	slices.Sort(out)
	return out
}

// stalled reports whether a destination is not getting its codes through.
func (d *Dispatcher) stalled(dest string, ds *destination, now time.Time) bool {
	switch {
	case d.breakers.State(dest) != breaker.Closed, ds.failed:
		return true
	case ds.inPipeline > 0:
		return now.Sub(ds.progress) >= stallAfter
	}
	return false
}

// dest returns a destination's bulkhead, creating it.
func (d *Dispatcher) dest(name string) *destination {
	ds := d.dests[name]
	if ds == nil {
		ds = &destination{}
		d.dests[name] = ds
	}
	return ds
}

// makeReady puts a line's head in its destination's turn.
func (d *Dispatcher) makeReady(dl *delivery) {
	name := dl.to.Destination()
	ds := d.dest(name)
	if len(ds.ready) == 0 {
		d.turns = append(d.turns, name)
	}
	ds.ready = append(ds.ready, dl)
	d.ready++
}

func (d *Dispatcher) takeIntake() {
	d.mu.Lock()
	in, retiring := d.intake, d.retiring
	d.intake, d.retiring = nil, nil
	d.mu.Unlock()
	now := d.clock.Now()
	for _, dl := range in {
		k := key{dl.to.Destination(), dl.n.Subject()}
		line := d.lines[k]
		if dl.n.Resend && len(line) > 0 {
			// A code for the subject is still on its way there: it keeps
			// the receiver's alert up to date, and a resend behind it
			// would only repeat it.
			d.countResend(dl, "skipped")
			continue
		}
		d.pending++
		d.users[dl.to]++
		ds := d.dest(k.dest)
		if ds.pending == 0 {
			ds.progress = now
		}
		ds.pending++
		d.lines[k] = append(line, dl)
		if len(line) == 0 { // the key was idle: this one goes now
			d.makeReady(dl)
		}
	}
	for _, n := range retiring {
		if d.users[n] == 0 {
			d.closeNotifier(n)
		} else {
			d.retired[n] = true
		}
	}
}

// countResend counts a resend's result.
func (d *Dispatcher) countResend(dl *delivery, result string) {
	d.m.resends.WithLabelValues(KindOf(dl.to), result).Inc()
}

// submitReady queues ready deliveries, one destination after another in
// turn, each up to its limit in the pipeline. Those whose breaker is open
// are held; when the queue refuses one (backpressure) it and the rest wait
// for results to free room.
func (d *Dispatcher) submitReady(now time.Time) {
	for progress := true; progress && d.ready > 0; {
		progress = false
		turns := d.turns[:0]
		for i, name := range d.turns {
			ds := d.dests[name]
			if len(ds.ready) > 0 && ds.inPipeline < d.limit {
				switch d.submitOne(name, ds, now) {
				case refused:
					turns = append(turns, d.turns[i:]...)
					clear(d.turns[len(turns):])
					d.turns = turns
					return
				default: // submitted or held back: either way, one fewer waits
					progress = true
				}
			}
			if len(ds.ready) > 0 {
				turns = append(turns, name)
			}
		}
		clear(d.turns[len(turns):])
		d.turns = turns
	}
}

type submitResult int

const (
	submitted submitResult = iota
	heldBack               // the breaker is open: held, or a resend dropped
	refused                // the queue is full
)

// submitOne offers the destination's first ready delivery to the pipeline.
func (d *Dispatcher) submitOne(name string, ds *destination, now time.Time) submitResult {
	dl := ds.ready[0]
	allowed, trial := d.breakers.Allow(name, now)
	if !allowed {
		d.breakers.Rejected(name)
		d.popReady(ds)
		if dl.n.Resend {
			// Not held: the next resend supersedes it.
			d.countResend(dl, "skipped")
			d.advance(dl)
		} else {
			d.held[name] = append(d.held[name], dl)
		}
		return heldBack
	}
	dl.trial = trial
	// Counted by the loop before the worker sees it: the loop reads
	// attempts (retries, state snapshots) while the delivery runs.
	dl.attempt++
	if !d.pl.TrySubmit(dl) {
		dl.attempt--
		d.breakers.Release(name, dl.trial)
		if !dl.deferred {
			dl.deferred = true
			d.pl.Deferred()
		}
		return refused
	}
	d.popReady(ds)
	if ds.inPipeline == 0 {
		ds.progress = now
	}
	ds.inPipeline++
	d.inflight++
	return submitted
}

func (d *Dispatcher) popReady(ds *destination) {
	ds.ready[0] = nil
	ds.ready = ds.ready[1:]
	d.ready--
}

// nextWake is when the loop must look again without being woken: the
// earliest retry, or the earliest moment an open breaker lets a trial
// through.
func (d *Dispatcher) nextWake(now time.Time) (time.Time, bool) {
	next, ok := d.retries.peek()
	for dest := range d.held {
		at, open := d.breakers.RetryAt(dest)
		switch {
		case open:
		case d.breakers.State(dest) == breaker.HalfOpen:
			continue // a trial is out: its result wakes the loop (finish)
		default:
			at = now // closed: release at once
		}
		if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	return next, ok
}

// probeHeld moves held codes whose breaker lets calls through back to
// their destination's turn: the first few as trials while half-open, all
// once closed. Held codes older than MaxAge are given up, as failed ones
// are.
func (d *Dispatcher) probeHeld(now time.Time) {
	for dest, line := range d.held {
		line = d.expireHeld(line, now)
		var n int
		switch d.breakers.State(dest) {
		case breaker.Closed:
			n = len(line)
		case breaker.Open:
			if at, _ := d.breakers.RetryAt(dest); !now.Before(at) {
				n = d.breakers.Config().HalfOpenRequests
			}
		case breaker.HalfOpen:
			// Trials are out; the rest wait for their outcome rather than
			// being offered (and refused) again and again.
		}
		n = min(n, len(line))
		for _, dl := range line[:n] {
			d.makeReady(dl)
		}
		if line = line[n:]; len(line) == 0 {
			delete(d.held, dest)
		} else {
			d.held[dest] = line
		}
	}
}

// expireHeld gives up held deliveries older than MaxAge.
func (d *Dispatcher) expireHeld(line []*delivery, now time.Time) []*delivery {
	kept := line[:0]
	for _, dl := range line {
		if age := now.Sub(dl.first); age >= d.policy.MaxAge {
			d.m.dispatched.WithLabelValues(dl.n.Code.String(), KindOf(dl.to), "undeliverable").Inc()
			d.log.Error("code undeliverable; giving up", "monitor", dl.n.Monitor, "code", dl.n.Code.String(),
				"destination", dl.to.Destination(), "attempts", dl.attempt, "age", age.Round(time.Second), "err", "circuit breaker open")
			d.advance(dl)
			continue
		}
		kept = append(kept, dl)
	}
	return kept
}

func (d *Dispatcher) finish(o outcome) {
	d.inflight--
	dl := o.d
	now := d.clock.Now()
	dest := dl.to.Destination()
	ds := d.dest(dest)
	ds.inPipeline--
	if o.parked {
		// Queued before the breaker opened: held with the rest, untried.
		dl.attempt--
		d.breakers.Rejected(dest)
		d.held[dest] = append(d.held[dest], dl)
		return
	}
	ds.progress, ds.failed = now, o.err != nil
	d.breakers.Record(dest, dl.trial, o.err == nil, now)
	if o.err == nil && len(d.held[dest]) > 0 && d.breakers.State(dest) == breaker.Closed {
		d.probeHeld(now) // the destination is back: release what it held
	}
	if dl.n.Resend {
		// Never retried: the next resend, one interval later, is the retry.
		if o.err != nil {
			d.countResend(dl, "failure")
			d.log.Warn("re-sending a firing code failed; trying again next interval", "monitor", dl.n.Monitor,
				"code", dl.n.Code.String(), "destination", dest, "err", o.err)
		} else {
			d.countResend(dl, "success")
		}
		d.advance(dl)
		return
	}
	labels := []string{dl.n.Code.String(), KindOf(dl.to)}
	if o.err == nil {
		d.m.dispatched.WithLabelValues(append(labels, "success")...).Inc()
		d.advance(dl)
		return
	}
	age := now.Sub(dl.first)
	if age >= d.policy.MaxAge {
		d.m.dispatched.WithLabelValues(append(labels, "undeliverable")...).Inc()
		d.log.Error("code undeliverable; giving up", "monitor", dl.n.Monitor, "code", dl.n.Code.String(),
			"destination", dl.to.Destination(), "attempts", dl.attempt, "age", age.Round(time.Second), "err", o.err)
		d.advance(dl)
		return
	}
	d.m.dispatched.WithLabelValues(append(labels, "retry")...).Inc()
	backoff := d.policy.InitialBackoff << min(dl.attempt-1, 30)
	if backoff <= 0 || backoff > d.policy.MaxBackoff {
		backoff = d.policy.MaxBackoff
	}
	dl.due = now.Add(backoff)
	d.log.Warn("code delivery failed; will retry", "monitor", dl.n.Monitor, "code", dl.n.Code.String(),
		"destination", dl.to.Destination(), "attempt", dl.attempt, "retry_in", backoff, "err", o.err)
	heap.Push(&d.retries, dl)
}

// advance ends a delivery and starts the next one for the same key.
func (d *Dispatcher) advance(dl *delivery) {
	d.pending--
	if d.users[dl.to]--; d.users[dl.to] <= 0 {
		delete(d.users, dl.to)
		if d.retired[dl.to] {
			d.closeNotifier(dl.to)
		}
	}
	k := key{dl.to.Destination(), dl.n.Subject()}
	if ds := d.dests[k.dest]; ds != nil {
		if ds.pending--; ds.pending <= 0 && ds.inPipeline == 0 && len(ds.ready) == 0 {
			delete(d.dests, k.dest) // a new delivery starts it afresh
		}
	}
	line := d.lines[k][1:]
	if len(line) == 0 {
		delete(d.lines, k)
		return
	}
	d.lines[k] = line
	d.makeReady(line[0])
}

func (d *Dispatcher) retryDue(now time.Time) {
	for {
		next, ok := d.retries.peek()
		if !ok || next.After(now) {
			return
		}
		d.makeReady(heap.Pop(&d.retries).(*delivery))
	}
}

// Flush waits until everything pending is delivered, or until nothing more
// can be before ctx's deadline: retries keep their backoff and open
// breakers keep holding, so a dead receiver gets its scheduled attempts and
// no more, and the others are not starved. Call it once, on shutdown,
// after the last Send; then Close, and Undelivered says what is left.
func (d *Dispatcher) Flush(ctx context.Context) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = d.clock.Now().Add(d.policy.MaxAge)
	}
	f := flushRequest{done: make(chan struct{}), deadline: deadline}
	select {
	case d.flush <- f:
	case <-d.done:
		return
	}
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

// Pending returns the codes not delivered yet (in flight, waiting to be
// retried, or held behind a breaker), for the state directory. Resends are
// not among them.
func (d *Dispatcher) Pending() []Undelivered {
	reply := make(chan []Undelivered, 1)
	select {
	case d.pendingReq <- reply:
		return <-reply
	case <-d.done:
		return nil
	}
}

// undeliveredNow copies what is pending; called by the loop.
func (d *Dispatcher) undeliveredNow() []Undelivered {
	var out []Undelivered
	for _, line := range d.lines {
		for _, dl := range line {
			if !dl.n.Resend {
				out = append(out, Undelivered{Notification: dl.n, To: dl.to, Attempts: dl.attempt, First: dl.first})
			}
		}
	}
	return out
}

// Undelivered returns the codes Close found still pending, in no
// particular order (the order per monitor and destination is kept by
// First). Resends are not among them.
func (d *Dispatcher) Undelivered() []Undelivered { return d.undelivered }

// Close stops the dispatcher. Deliveries still running finish until ctx
// ends, unless the last Flush left only stalled destinations: then they are
// cancelled at once. Deliveries still pending are counted and logged as
// undeliverable, and Undelivered returns them.
func (d *Dispatcher) Close(ctx context.Context) error {
	close(d.stop)
	<-d.done
	d.takeIntake()
	// Stop the workers first: deliveries still running finish (or are
	// cancelled when ctx ends) and are accounted for before the rest are
	// counted, so nothing is read while a worker still writes it.
	var finished []outcome
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for o := range d.pl.Results() {
			finished = append(finished, o)
		}
	}()
	closeCtx := ctx
	if d.leftStalled.Load() {
		// Flush gave up on these receivers: waiting for their attempts
		// would only spend the shutdown on them. Their codes are saved.
		var cancel context.CancelFunc
		closeCtx, cancel = context.WithCancel(ctx)
		cancel()
	}
	err := d.pl.Close(closeCtx, false)
	if closeCtx != ctx && ctx.Err() == nil {
		err = nil // cut short on purpose; what was cut is undelivered, below
	}
	<-collected
	for _, o := range finished {
		if o.parked {
			o.d.attempt-- // untried
		}
		if o.err == nil && !o.parked {
			d.m.dispatched.WithLabelValues(o.d.n.Code.String(), KindOf(o.d.to), "success").Inc()
			d.advance(o.d)
		}
	}
	for _, line := range d.lines { // held deliveries are heads of lines, so they are here too
		for _, dl := range line {
			if dl.n.Resend {
				d.countResend(dl, "skipped")
			}
		}
	}
	d.undelivered = d.undeliveredNow()
	for _, u := range d.undelivered {
		d.m.dispatched.WithLabelValues(u.Notification.Code.String(), KindOf(u.To), "undeliverable").Inc()
		d.log.Warn("code not delivered before shutdown", "monitor", u.Notification.Monitor, "code", u.Notification.Code.String(),
			"destination", u.To.Destination(), "attempts", u.Attempts)
	}
	for n := range d.retired {
		d.closeNotifier(n)
	}
	return err
}

// retryHeap orders retries by due time.
type retryHeap []*delivery

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(*delivery)) }
func (h *retryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
func (h retryHeap) peek() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].due, true
}
