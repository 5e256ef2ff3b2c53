package codepath

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// resendEvery is how often the book looks for firing codes to re-send;
// each holder's own resend_interval says which are due.
const resendEvery = time.Second

// Path is the code path: everything between a code the world emitted (or
// a host breaker, or an alert relayed from Alertmanager) and the
// dispatcher. It is the one place that holds incidents: for each open
// incident of a monitor the ID and the trace; for every subject (a
// monitor, a host, a relayed alert) what the receivers that hold firing
// codes (code.Holder: Alertmanager) were sent. Its API is the life of an
// incident and its codes: Take (open, step, close), Dispatch,
// FinishClosed, Resend, Reconcile, Save and Restore, with HostDown/HostUp
// and Relay for the codes that are about no monitor. Owned by the owner
// goroutine: nothing in it is safe for concurrent use.
type Path struct {
	t          *telemetry.Tracing
	log        *slog.Logger
	send       func(domain.Notification, []code.Notifier) // the dispatcher's Send
	labels     map[string]string                          // the agent's labels, on host codes
	lastID     uint64
	open       map[domain.Subject]*openIncident
	relayed    int                    // entries of alerts relayed from Alertmanager
	closing    []world.IncidentChange // closed; finished after their codes went out
	lastResend time.Time

	hostAlarms map[string][]code.Notifier // open hosts and where their red went
	relay      relay
}

// Config is what a Path needs.
type Config struct {
	// Send hands a notification to the dispatcher (code.Dispatcher.Send).
	Send    func(domain.Notification, []code.Notifier)
	Tracing *telemetry.Tracing
	Log     *slog.Logger
	// Labels are the agent's own labels (its shard), added to host codes.
	Labels map[string]string
	// MaxRelayed bounds the relayed alerts whose firing codes the path
	// holds (alertmanager_webhook.max_relayed_alerts).
	MaxRelayed int
}

// New returns an empty code path.
func New(c Config) *Path {
	return &Path{
		t: c.Tracing, log: c.Log, send: c.Send, labels: c.Labels,
		open:       map[domain.Subject]*openIncident{},
		hostAlarms: map[string][]code.Notifier{},
		relay:      relay{max: c.MaxRelayed},
	}
}

// Dispatch logs a code, stamps a monitor's code with its open incident
// (ID and trace) and hands it to the dispatcher, once per receiver; what
// holders hold follows. A code with no receiver is only logged.
func (p *Path) Dispatch(d world.Dispatch, now time.Time) {
	n := d.Notification
	if n.About == domain.AboutMonitor {
		n.Incident, n.Trace = p.Incident(n.Monitor)
	}
	attrs := []any{"monitor", n.Monitor}
	if n.About != domain.AboutMonitor {
		attrs = append(attrs, "about", n.About.String())
	}
	attrs = append(attrs, "code", n.Code.String(), "state", n.State, "message", n.Message, "receivers", len(d.Notifiers))
	if n.Incident != 0 {
		attrs = append(attrs, "incident", n.Incident)
	}
	if id := n.TraceID(); id != "" {
		attrs = append(attrs, "trace_id", id)
	}
	p.log.Info("code", attrs...)
	p.deliver(n, d.Notifiers, now)
}

// openIncident is one subject's entry: an incident (id ≠ 0) and what its
// holders were sent.
type openIncident struct {
	id    uint64 // 0: no incident, only codes held (host codes, relayed alerts)
	start time.Time
	root  trace.SpanContext // IDs chosen at open; the span itself is written at close
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

// entry returns the subject's entry, creating it.
func (p *Path) entry(subject domain.Subject) *openIncident {
	e := p.open[subject]
	if e == nil {
		e = &openIncident{held: map[code.Holder]held{}}
		p.open[subject] = e
		if subject.About == domain.AboutAlert {
			p.relayed++
		}
	}
	return e
}

// holds reports whether the book has an entry for subject.
func (p *Path) holds(subject domain.Subject) bool { return p.open[subject] != nil }

// forget drops an entry that holds nothing any more.
func (p *Path) forget(subject domain.Subject, e *openIncident) {
	if e.id == 0 && len(e.held) == 0 {
		delete(p.open, subject)
		if subject.About == domain.AboutAlert {
			p.relayed--
		}
	}
}

// newID returns a new incident ID: the nanosecond the incident opened,
// made unique, so IDs sort by time and stay unique across restarts.
func (p *Path) newID(now time.Time) uint64 {
	p.lastID = max(p.lastID+1, uint64(now.UnixNano()))
	return p.lastID
}

// Take applies the world's incident changes (open, step, close). Openings take effect at once,
// so the step's codes and the check's span join the new incident; closings
// wait in closing for finishClosed, after the step's codes went out.
func (p *Path) Take(changes []world.IncidentChange) {
	for _, c := range changes {
		monitor := domain.Subject{Name: c.Monitor}
		switch c.Change {
		case incident.Opened:
			e := p.entry(monitor)
			e.id, e.start = p.newID(c.At), c.At
			e.root = trace.SpanContext{}
			if p.t.Enabled {
				e.root = trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: telemetry.NewTraceID(), SpanID: telemetry.NewSpanID(), TraceFlags: trace.FlagsSampled,
				})
			}
			p.log.Info("incident opened", p.attrs(c.Monitor, e, "state", c.State.String(), "cause", c.Cause)...)
		case incident.Closed:
			p.closing = append(p.closing, c)
		}
	}
}

func (p *Path) attrs(subject string, e *openIncident, more ...any) []any {
	attrs := []any{"monitor", subject, "incident", e.id}
	if e.root.IsValid() {
		attrs = append(attrs, "trace_id", e.root.TraceID().String())
	}
	return append(attrs, more...)
}

// Incident returns the monitor's open incident ID and trace (0 and an
// invalid context when none).
func (p *Path) Incident(monitor string) (uint64, trace.SpanContext) {
	if e := p.open[domain.Subject{Name: monitor}]; e != nil {
		return e.id, e.root
	}
	return 0, trace.SpanContext{}
}

// deliver hands a code to send, once per holder, each told which
// firing code it holds for the subject (Notification.Replaces), and
// records what the holders hold now. A resolving code also goes to every
// holder still holding a firing code of the subject, wherever it was
// fired: a reload may have moved the monitor's codes since.
func (p *Path) deliver(n domain.Notification, notifiers []code.Notifier, now time.Time) {
	var plain []code.Notifier
	subject := n.Subject()
	e := p.open[subject]
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
			e = p.entry(subject)
		}
		p.sendHeld(n, e, h, now)
	}
	if e != nil && n.Code.Resolves() {
		for _, h := range slices.Collect(maps.Keys(e.held)) { // sendHeld deletes
			p.sendHeld(n, e, h, now)
		}
		p.forget(subject, e)
	}
	if len(plain) > 0 {
		p.send(n, plain)
	}
}

// sendHeld sends n to the holder h and records what h holds then.
func (p *Path) sendHeld(n domain.Notification, e *openIncident, h code.Holder, now time.Time) {
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
	p.send(n, []code.Notifier{h})
}

// resolution is the entry's newest firing code turned into the resolving
// code c: the same labels, so a holder matches the alert it resolves.
func (e *openIncident) resolution(c domain.Code, state, msg string, at time.Time) domain.Notification {
	r := e.firing
	r.Code, r.State, r.Message, r.Time = c, state, msg, at
	return r
}

// FinishClosed ends the incidents the world closed, once their codes went
// out: it writes their traces, resolves what a holder still holds (the
// monitor sends no green there, or a reload moved its codes), and logs.
func (p *Path) FinishClosed(now time.Time) {
	for _, c := range p.closing {
		monitor := domain.Subject{Name: c.Monitor}
		e := p.open[monitor]
		if e == nil || e.id == 0 {
			continue
		}
		p.writeTrace(c.Monitor, e, c.Cause, c.At)
		p.log.Info("incident closed", p.attrs(c.Monitor, e, "state", c.State.String(), "cause", c.Cause,
			"duration", c.At.Sub(e.start).Round(time.Millisecond))...)
		if len(e.held) > 0 {
			end := domain.Green
			if c.State == incident.Maintenance || c.Cause == "removed" {
				end = domain.Gray
			}
			p.deliver(e.resolution(end, c.State.String(), "incident closed: "+c.Cause, c.At), nil, now)
		}
		e.id, e.root = 0, trace.SpanContext{}
		p.forget(monitor, e)
	}
	clear(p.closing)
	p.closing = p.closing[:0]
}

// Resend re-sends, at most once a resendEvery, each held firing code whose
// holder's resend interval has passed since it was last sent there.
func (p *Path) Resend(now time.Time) {
	if now.Sub(p.lastResend) < resendEvery {
		return
	}
	p.lastResend = now
	for _, e := range p.open {
		for h, hd := range e.held {
			if now.Sub(hd.sent) < h.ResendInterval() {
				continue
			}
			n := e.firing
			n.Code, n.Time, n.Replaces, n.Resend = hd.fired.Code, hd.fired.At, hd.fired, true
			hd.sent = now
			e.held[h] = hd
			p.send(n, []code.Notifier{h})
		}
	}
}

// Reconcile makes what holders hold follow the configuration after a
// reload. notifiers says where a monitor's codes of a colour go now (false
// for a monitor no longer configured). A holder that no longer gets the
// subject's code has it resolved, unless a new instance for the same
// destination takes it over (a changed timeout: the same Alertmanager
// keeps the same alert); a holder that newly gets it has it fired.
// retired are notifiers the configuration no longer uses at all.
func (p *Path) Reconcile(notifiers func(monitor string, c domain.Code) ([]code.Notifier, bool), retired map[code.Notifier]bool, now time.Time) {
	for subject, e := range p.open {
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
			p.sendHeld(e.resolution(domain.Green, e.firing.State, "the configuration no longer sends this monitor's codes here", now), e, h, now)
		}
		for h, c := range want {
			if _, has := e.held[h]; has || !e.firing.Code.Firing() {
				continue
			}
			n := e.firing
			n.Code = c
			p.sendHeld(n, e, h, now)
		}
		p.forget(subject, e)
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

// Drop forgets a subject without resolving anything: another replica took
// its monitor over and carries the incident and what holders hold. Its
// trace is left open for the new owner.
func (p *Path) Drop(s domain.Subject) {
	e := p.open[s]
	if e == nil {
		return
	}
	clear(e.held)
	e.id = 0
	p.forget(s, e)
}

// Entry is a copy of one subject's entry, for the API and tests.
type Entry struct {
	Incident uint64 // 0: no incident, only codes held
	Start    time.Time
	Trace    trace.SpanContext
	Held     map[code.Holder]Held
}

// Held is what one holder holds for a subject.
type Held struct {
	Code     domain.Code
	At, Sent time.Time // fired at; last sent there
}

// Entry returns the subject's entry.
func (p *Path) Entry(s domain.Subject) (Entry, bool) {
	e := p.open[s]
	if e == nil {
		return Entry{}, false
	}
	out := Entry{Incident: e.id, Start: e.start, Trace: e.root, Held: make(map[code.Holder]Held, len(e.held))}
	for h, hd := range e.held {
		out.Held[h] = Held{Code: hd.fired.Code, At: hd.fired.At, Sent: hd.sent}
	}
	return out, true
}

// Subjects is how many subjects have an entry (an open incident, or codes
// held); Relayed how many of them are relayed alerts.
func (p *Path) Subjects() int { return len(p.open) }

// Relayed is how many relayed alerts the path holds firing codes of.
func (p *Path) Relayed() int { return p.relayed }
