package codepath

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// holder is a receiver that keeps firing codes (as Alertmanager does).
type holder struct{ dest string }

func (h *holder) Notify(context.Context, domain.Notification) error { return nil }
func (h *holder) Destination() string                               { return h.dest }
func (h *holder) Close(context.Context) error                       { return nil }
func (h *holder) ResendInterval() time.Duration                     { return time.Minute }

type sent struct {
	n  domain.Notification
	to []code.Notifier
}

func newPath(out *[]sent) *Path {
	return New(Config{
		Send:       func(n domain.Notification, to []code.Notifier) { *out = append(*out, sent{n, to}) },
		Tracing:    &telemetry.Tracing{},
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxRelayed: 10,
	})
}

// TestIncidentLife drives one incident through the API as the owner does,
// across a restart: opened, red held, saved, restored into a new path with
// the same ID and holder, then closed, which resolves the held red.
func TestIncidentLife(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	am := &holder{"alertmanager:http://127.0.0.1:9093"}
	var out []sent
	p := newPath(&out)
	api := domain.Subject{Name: "api"}

	p.Take([]world.IncidentChange{{Monitor: "api", Change: incident.Opened, State: incident.Degraded, At: t0}})
	p.Dispatch(world.Dispatch{Notification: domain.Notification{Time: t0, Monitor: "api", Code: domain.Red, State: "failing"},
		Notifiers: []code.Notifier{am}}, t0)
	e, ok := p.Entry(api)
	if !ok || e.Incident == 0 || e.Held[am].Code != domain.Red {
		t.Fatalf("after red: entry %+v (%v); want an incident with red held at Alertmanager", e, ok)
	}
	if len(out) != 1 || out[0].n.Incident != e.Incident {
		t.Fatalf("sent %+v; want one red carrying incident %d", out, e.Incident)
	}

	var f state.File
	p.Save(&f)
	var after []sent
	q := newPath(&after)
	q.Restore(&f, map[string]code.Notifier{am.Destination(): am}, func(string) bool { return true }, t0.Add(time.Second))
	r, ok := q.Entry(api)
	if !ok || r.Incident != e.Incident || r.Held[am].Code != domain.Red || len(after) != 0 {
		t.Fatalf("restored entry %+v (%v), sent %+v; want the same incident, red held, nothing sent", r, ok, after)
	}

	closedAt := t0.Add(time.Minute)
	q.Take([]world.IncidentChange{{Monitor: "api", Change: incident.Closed, State: incident.Healthy, At: closedAt, Cause: "recovered"}})
	q.FinishClosed(closedAt)
	if len(after) != 1 || after[0].n.Code != domain.Green || after[0].n.Replaces.Code != domain.Red || after[0].to[0] != am {
		t.Fatalf("at close sent %+v; want one green to Alertmanager resolving red", after)
	}
	if q.Subjects() != 0 {
		t.Errorf("%d subjects left after the incident closed", q.Subjects())
	}
}

// TestRestoreResolvesWhatIsNoLongerTracked: a held code of a monitor that
// is no longer in an incident is resolved at restore, not left to expire.
func TestRestoreResolvesWhatIsNoLongerTracked(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	am := &holder{"alertmanager:http://127.0.0.1:9093"}
	var out []sent
	p := newPath(&out)
	p.Take([]world.IncidentChange{{Monitor: "gone", Change: incident.Opened, State: incident.Degraded, At: t0}})
	p.Dispatch(world.Dispatch{Notification: domain.Notification{Time: t0, Monitor: "gone", Code: domain.Red},
		Notifiers: []code.Notifier{am}}, t0)
	var f state.File
	p.Save(&f)

	var after []sent
	q := newPath(&after)
	q.Restore(&f, map[string]code.Notifier{am.Destination(): am}, func(string) bool { return false }, t0.Add(time.Second))
	if len(after) != 1 || after[0].n.Code != domain.Green || after[0].n.Monitor != "gone" {
		t.Fatalf("sent %+v; want gone's red resolved", after)
	}
	if q.Subjects() != 0 {
		t.Errorf("%d subjects left", q.Subjects())
	}
}

// TestHostCodes: a host's green goes where its red went, and only once.
func TestHostCodes(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	am := &holder{"alertmanager:http://127.0.0.1:9093"}
	var out []sent
	p := newPath(&out)
	p.HostUp("10.0.0.1", t0) // no red went out: nothing to say
	p.HostDown("10.0.0.1", "host 10.0.0.1 unreachable", []code.Notifier{am}, t0)
	p.HostUp("10.0.0.1", t0.Add(time.Second))
	p.HostUp("10.0.0.1", t0.Add(2*time.Second))
	if len(out) != 2 || out[0].n.Code != domain.Red || out[1].n.Code != domain.Green ||
		out[1].n.About != domain.AboutHost || out[1].n.Monitor != HostCodeName("10.0.0.1") {
		t.Fatalf("sent %+v; want the host's red, then one green", out)
	}
}
