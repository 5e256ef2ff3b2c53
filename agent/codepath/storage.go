package codepath

import (
	"time"

	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// Save adds the open incidents and what holders hold to f.
func (p *Path) Save(f *state.File) {
	for subject, e := range p.open {
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

// Restore rebuilds the book from a state file: the incidents of monitors
// still in one (open says which), and what each holder holds, found by
// destination. What a holder holds for anything else (a monitor removed
// or recovered since, a host, a relayed alert: the agent no longer tracks
// them) is resolved now rather than left to expire.
func (p *Path) Restore(f *state.File, byDest map[string]code.Notifier, open func(monitor string) bool, now time.Time) {
	for _, oi := range f.Open {
		p.lastID = max(p.lastID, oi.ID)
		if !open(oi.Monitor) {
			continue
		}
		e := p.entry(domain.Subject{Name: oi.Monitor})
		e.id, e.start, e.root = oi.ID, oi.Start, state.SpanContext(oi.TraceID, oi.SpanID)
	}
	for _, h := range f.Held {
		holder, isHolder := byDest[h.Destination].(code.Holder)
		firing, err := h.Firing.Domain()
		c, _ := domain.CodeNamed(h.Code) // 0 when unknown: not firing
		about, known := state.AboutOf(h.About)
		if !isHolder || err != nil || !c.Firing() || !known {
			p.log.Warn("state: a held alert cannot be tracked: its receiver is no longer configured; it expires there on its own",
				"subject", h.Subject, "destination", h.Destination, "code", h.Code)
			continue
		}
		e := p.entry(domain.Subject{About: about, Name: h.Subject})
		e.held[holder] = held{fired: domain.Fired{Code: c, At: h.At}, sent: h.Sent}
		firing.Monitor, firing.About = h.Subject, about // the entry's key, whatever the copy says
		if firing.Time.After(e.firing.Time) {
			e.firing = firing
		}
	}
	for subject, e := range p.open {
		if e.id == 0 && len(e.held) > 0 {
			r := e.resolution(domain.Green, "", "resolved at restart: the agent no longer tracks it", now)
			r.Incident = 0
			p.deliver(r, nil, now)
			p.forget(subject, e)
		}
	}
}
