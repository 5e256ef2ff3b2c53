package owner

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// resendEvery is how often the book looks for firing codes to re-send;
// each holder's own resend_interval says which are due.
const resendEvery = time.Second

// book is the one place that holds incidents. For each open incident of a
// monitor it keeps the ID, the trace and the state; for every subject (a
// monitor, a host code, an alert relayed from Alertmanager) it keeps what
// the receivers that hold firing codes (code.Holder: Alertmanager) were
// sent. The tracing of checks, remedies and codes, the re-sends, the
// resolutions after a reload or a recovery, and the log all read it.
// Owned by the owner goroutine.
type book struct {
	t          *telemetry.Tracing
	log        *slog.Logger
	lastID     uint64
	open       map[domain.Subject]*openIncident
	relayed    int                    // entries of alerts relayed from Alertmanager
	closing    []world.IncidentChange // closed; finished after their codes went out
	lastResend time.Time
}

// openIncident is one subject's entry: an incident (id ≠ 0) and what its
// holders were sent.
type openIncident struct {
	id    uint64 // 0: no incident, only codes held (host codes, relayed alerts)
	start time.Time
	root  trace.SpanContext // IDs chosen at open; the span itself is written at close
	state incident.State
	// firing is the newest firing code sent, the template of re-sends and
	// of resolutions (same labels, so Alertmanager matches the alert).
	firing domain.Notification
	held   map[code.Holder]held
}

// held is the firing code a holder has, and when it was last sent there.
type held struct {
	fired domain.Fired
	sent  time.Time
}

func newBook(t *telemetry.Tracing, log *slog.Logger) *book {
	return &book{t: t, log: log, open: map[domain.Subject]*openIncident{}}
}

// entry returns the subject's entry, creating it.
func (b *book) entry(subject domain.Subject) *openIncident {
	e := b.open[subject]
	if e == nil {
		e = &openIncident{held: map[code.Holder]held{}}
		b.open[subject] = e
		if subject.About == domain.AboutAlert {
			b.relayed++
		}
	}
	return e
}

// holds reports whether the book has an entry for subject.
func (b *book) holds(subject domain.Subject) bool { return b.open[subject] != nil }

// forget drops an entry that holds nothing any more.
func (b *book) forget(subject domain.Subject, e *openIncident) {
	if e.id == 0 && len(e.held) == 0 {
		delete(b.open, subject)
		if subject.About == domain.AboutAlert {
			b.relayed--
		}
	}
}

// newID returns a new incident ID: the nanosecond the incident opened,
// made unique, so IDs sort by time and stay unique across restarts.
func (b *book) newID(now time.Time) uint64 {
	b.lastID = max(b.lastID+1, uint64(now.UnixNano()))
	return b.lastID
}

// take applies the world's incident changes. Openings take effect at once,
// so the step's codes and the check's span join the new incident; closings
// wait in closing for finishClosed, after the step's codes went out.
func (b *book) take(changes []world.IncidentChange) {
	for _, c := range changes {
		monitor := domain.Subject{Name: c.Monitor}
		switch c.Change {
		case incident.Opened:
			e := b.entry(monitor)
			e.id, e.start, e.state = b.newID(c.At), c.At, c.State
			e.root = trace.SpanContext{}
			if b.t.Enabled {
				e.root = trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: telemetry.NewTraceID(), SpanID: telemetry.NewSpanID(), TraceFlags: trace.FlagsSampled,
				})
			}
			b.log.Info("incident opened", b.attrs(c.Monitor, e, "state", c.State.String(), "cause", c.Cause)...)
		case incident.Changed:
			if e := b.open[monitor]; e != nil && e.id != 0 {
				e.state = c.State
			}
		case incident.Closed:
			b.closing = append(b.closing, c)
		}
	}
}

func (b *book) attrs(subject string, e *openIncident, more ...any) []any {
	attrs := []any{"monitor", subject, "incident", e.id}
	if e.root.IsValid() {
		attrs = append(attrs, "trace_id", e.root.TraceID().String())
	}
	return append(attrs, more...)
}

// incident returns the monitor's open incident ID and trace (0 and an
// invalid context when none).
func (b *book) incident(monitor string) (uint64, trace.SpanContext) {
	if e := b.open[domain.Subject{Name: monitor}]; e != nil {
		return e.id, e.root
	}
	return 0, trace.SpanContext{}
}

// dispatch hands a code to send, once per holder target, each told which
// firing code it holds for the subject (Notification.Replaces), and
// records what the holders hold now. A resolving code also goes to every
// holder still holding a firing code of the subject, wherever it was
// fired: a reload may have moved the monitor's codes since.
func (b *book) dispatch(n domain.Notification, notifiers []code.Notifier, now time.Time, send func(domain.Notification, []code.Notifier)) {
	var plain []code.Notifier
	subject := n.Subject()
	e := b.open[subject]
	for _, t := range notifiers {
		h, ok := t.(code.Holder)
		if !ok {
			plain = append(plain, t)
			continue
		}
		if e == nil {
			if !n.Code.Firing() {
				continue // holds nothing of the subject: nothing to resolve
			}
			e = b.entry(subject)
		}
		b.sendHeld(n, e, h, now, send)
	}
	if e != nil && n.Code.Resolves() {
		for _, h := range slices.Collect(maps.Keys(e.held)) { // sendHeld deletes
			b.sendHeld(n, e, h, now, send)
		}
		b.forget(subject, e)
	}
	if len(plain) > 0 {
		send(n, plain)
	}
}

// sendHeld sends n to the holder h and records what h holds then.
func (b *book) sendHeld(n domain.Notification, e *openIncident, h code.Holder, now time.Time, send func(domain.Notification, []code.Notifier)) {
	had := e.held[h]
	n.Replaces = had.fired
	if n.Code.Firing() {
		at := n.Time
		if had.fired.Code == n.Code {
			at = had.fired.At // the same alert again
		}
		e.held[h] = held{fired: domain.Fired{Code: n.Code, At: at}, sent: now}
		e.firing = n
		e.firing.Replaces, e.firing.Resend = domain.Fired{}, false
	} else {
		delete(e.held, h)
	}
	send(n, []code.Notifier{h})
}

// resolution is the entry's newest firing code turned into the resolving
// code c: the same labels, so a holder matches the alert it resolves.
func (e *openIncident) resolution(c domain.Code, state, msg string, at time.Time) domain.Notification {
	r := e.firing
	r.Code, r.State, r.Message, r.Time = c, state, msg, at
	return r
}

// finishClosed ends the incidents the world closed, once their codes went
// out: it writes their traces, resolves what a holder still holds (the
// monitor sends no green there, or a reload moved its codes), and logs.
func (b *book) finishClosed(now time.Time, send func(domain.Notification, []code.Notifier)) {
	for _, c := range b.closing {
		monitor := domain.Subject{Name: c.Monitor}
		e := b.open[monitor]
		if e == nil || e.id == 0 {
			continue
		}
		b.writeTrace(c.Monitor, e, c.Cause, c.At)
		b.log.Info("incident closed", b.attrs(c.Monitor, e, "state", c.State.String(), "cause", c.Cause,
			"duration", c.At.Sub(e.start).Round(time.Millisecond))...)
		if len(e.held) > 0 {
			end := domain.Green
			if c.State == incident.Maintenance || c.Cause == "removed" {
				end = domain.Gray
			}
			b.dispatch(e.resolution(end, c.State.String(), "incident closed: "+c.Cause, c.At), nil, now, send)
		}
		e.id, e.root = 0, trace.SpanContext{}
		b.forget(monitor, e)
	}
	clear(b.closing)
	b.closing = b.closing[:0]
}

// resend re-sends, at most once a resendEvery, each held firing code whose
// holder's resend interval has passed since it was last sent there.
func (b *book) resend(now time.Time, send func(domain.Notification, []code.Notifier)) {
	if now.Sub(b.lastResend) < resendEvery {
		return
	}
	b.lastResend = now
	for _, e := range b.open {
		for h, hd := range e.held {
			if now.Sub(hd.sent) < h.ResendInterval() {
				continue
			}
			n := e.firing
			n.Code, n.Time, n.Replaces, n.Resend = hd.fired.Code, hd.fired.At, hd.fired, true
			hd.sent = now
			e.held[h] = hd
			send(n, []code.Notifier{h})
		}
	}
}

// reconcile makes what holders hold follow the configuration after a
// reload. notifiers says where a monitor's codes of a colour go now (false
// for a monitor no longer configured). A holder that no longer gets the
// subject's code has it resolved, unless a new instance for the same
// destination takes it over (a changed timeout: the same Alertmanager
// keeps the same alert); a holder that newly gets it has it fired.
// retired are notifiers the configuration no longer uses at all.
func (b *book) reconcile(notifiers func(monitor string, c domain.Code) ([]code.Notifier, bool), retired map[code.Notifier]bool, now time.Time, send func(domain.Notification, []code.Notifier)) {
	for subject, e := range b.open {
		if len(e.held) == 0 {
			continue
		}
		want := map[code.Holder]domain.Code{}
		isMonitor := false
		for _, hd := range e.held {
			if subject.About != domain.AboutMonitor {
				break // hosts and relayed alerts follow no monitor's routes
			}
			ts, ok := notifiers(subject.Name, hd.fired.Code)
			isMonitor = ok
			for _, t := range ts {
				if h, ok := t.(code.Holder); ok {
					want[h] = hd.fired.Code
				}
			}
		}
		for h, hd := range e.held {
			_, wanted := want[h]
			if wanted || (!isMonitor && !retired[h]) {
				continue
			}
			if heir := sameDestination(h, hd.fired.Code, want, e.held); heir != nil {
				delete(e.held, h)
				e.held[heir] = hd
				continue
			}
			b.sendHeld(e.resolution(domain.Green, e.firing.State, "the configuration no longer sends this monitor's codes here", now), e, h, now, send)
		}
		for h, c := range want {
			if _, has := e.held[h]; has || !e.firing.Code.Firing() {
				continue
			}
			n := e.firing
			n.Code = c
			b.sendHeld(n, e, h, now, send)
		}
		b.forget(subject, e)
	}
}

// sameDestination finds a wanted holder of code c with h's destination
// that holds nothing yet.
func sameDestination(h code.Holder, c domain.Code, want map[code.Holder]domain.Code, has map[code.Holder]held) code.Holder {
	for w, wc := range want {
		if _, taken := has[w]; !taken && wc == c && w.Destination() == h.Destination() {
			return w
		}
	}
	return nil
}

// check records one check's span and returns its context (invalid when
// not sampled), for the duration histogram's exemplar. Checks of a monitor
// in an incident belong to the incident's trace and are always kept;
// routine checks are traces of their own, sampled.
func (b *book) check(monitor, typ string, start time.Time, d time.Duration, ok bool, reason string) trace.SpanContext {
	if !b.t.Enabled {
		return trace.SpanContext{}
	}
	attrs := []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.check.type", typ),
		attribute.Bool("cpra.check.success", ok),
	}
	_, root := b.incident(monitor)
	if !root.IsValid() {
		return b.t.Record(trace.SpanContext{}, "pulse "+typ, start, start.Add(d), attrs, "")
	}
	failed := ""
	if !ok {
		failed = reason
		attrs = append(attrs, attribute.String("cpra.check.reason", reason))
	}
	return b.t.Record(root, "pulse "+typ, start, start.Add(d), append(attrs, telemetry.Keep), failed)
}

// remedy records an intervention in the monitor's incident.
func (b *book) remedy(monitor, typ, dest string, start, end time.Time, err error) {
	_, root := b.incident(monitor)
	if !root.IsValid() {
		return
	}
	failed := ""
	if err != nil {
		failed = err.Error()
	}
	b.t.Record(root, "intervention "+typ, start, end, []attribute.KeyValue{
		attribute.String("cpra.monitor", monitor),
		attribute.String("cpra.intervention.type", typ),
		attribute.String("cpra.destination", dest),
		telemetry.Keep,
	}, failed)
}

// writeTrace writes the closing span and the incident's root span.
func (b *book) writeTrace(monitor string, e *openIncident, outcome string, at time.Time) {
	if !e.root.IsValid() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("cpra.monitor", monitor), telemetry.Keep}
	b.t.Record(e.root, outcome, at, at, attrs, "")
	ctx := telemetry.WithIDs(context.Background(), e.root)
	_, root := b.t.Tracer.Start(ctx, "incident "+monitor, trace.WithTimestamp(e.start),
		trace.WithAttributes(append(attrs,
			attribute.String("cpra.incident.outcome", outcome),
			attribute.Int64("cpra.incident.id", int64(e.id)))...))
	root.End(trace.WithTimestamp(at))
}

// writeOpenTraces ends the traces of incidents still open at shutdown, so
// they are complete in the backend. The incidents themselves stay open.
func (b *book) writeOpenTraces(at time.Time) {
	for s, e := range b.open {
		if e.id != 0 {
			b.writeTrace(s.Name, e, "open at shutdown", at)
		}
	}
}

// save adds the open incidents and what holders hold to f.
func (b *book) save(f *state.File) {
	for subject, e := range b.open {
		if e.id != 0 {
			oi := state.OpenIncident{Monitor: subject.Name, ID: e.id, Start: e.start}
			if e.root.IsValid() {
				oi.TraceID, oi.SpanID = e.root.TraceID().String(), e.root.SpanID().String()
			}
			f.Open = append(f.Open, oi)
		}
		for h, hd := range e.held {
			about := ""
			if subject.About != domain.AboutMonitor {
				about = subject.About.String()
			}
			f.Held = append(f.Held, state.Held{Subject: subject.Name, About: about, Destination: h.Destination(), Code: hd.fired.Code.String(),
				At: hd.fired.At, Sent: hd.sent, Firing: state.FromNotification(e.firing)})
		}
	}
}

// restore rebuilds the book from a state file: the incidents of monitors
// still in one (open says which), and what each holder holds, found by
// destination. What a holder holds for anything else (a monitor removed
// or recovered since, a host, a relayed alert: the agent no longer tracks
// them) is resolved now rather than left to expire.
func (b *book) restore(f *state.File, byDest map[string]code.Notifier, open func(monitor string) bool, now time.Time, send func(domain.Notification, []code.Notifier)) {
	for _, oi := range f.Open {
		b.lastID = max(b.lastID, oi.ID)
		if !open(oi.Monitor) {
			continue
		}
		e := b.entry(domain.Subject{Name: oi.Monitor})
		e.id, e.start, e.root = oi.ID, oi.Start, state.SpanContext(oi.TraceID, oi.SpanID)
	}
	for _, h := range f.Held {
		holder, isHolder := byDest[h.Destination].(code.Holder)
		firing, err := h.Firing.Domain()
		c := codeOf(h.Code)
		about, known := state.AboutOf(h.About)
		if !isHolder || err != nil || !c.Firing() || !known {
			b.log.Warn("state: a held alert cannot be tracked: its receiver is no longer configured; it expires there on its own",
				"subject", h.Subject, "destination", h.Destination, "code", h.Code)
			continue
		}
		e := b.entry(domain.Subject{About: about, Name: h.Subject})
		e.held[holder] = held{fired: domain.Fired{Code: c, At: h.At}, sent: h.Sent}
		firing.Monitor, firing.About = h.Subject, about // the entry's key, whatever the copy says
		if firing.Time.After(e.firing.Time) {
			e.firing = firing
		}
	}
	for subject, e := range b.open {
		if e.id == 0 && len(e.held) > 0 {
			r := e.resolution(domain.Green, "", "resolved at restart: the agent no longer tracks it", now)
			r.Incident = 0
			b.dispatch(r, nil, now, send)
			b.forget(subject, e)
		}
	}
}
