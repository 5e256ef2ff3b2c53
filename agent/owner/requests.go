package owner

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/state"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// request is a message to the owner goroutine. Run answers each by
// filling in its result fields and closing its done channel.
type request interface{ reply() *answered }

// answered is the part every request shares.
type answered struct{ done chan struct{} }

func (a *answered) reply() *answered { return a }

type runningRequest struct {
	answered
	running world.Running
}

// ownershipRequest carries a cluster's new ownership to the owner.
type ownershipRequest struct {
	answered
	owns     func(name string) bool
	hold     time.Duration
	handover *state.File
	result   Ownership
}

// sharesRequest asks how the monitors fall to the members.
type sharesRequest struct {
	answered
	ownerOf func(name string) int
	n       int
	shares  []int
}

// applyRequest carries a parsed monitor file to the owner.
type applyRequest struct {
	answered
	ms   *config.Monitors
	kept world.Kept

	stats   world.ApplyStats
	carried []config.InstanceKeys
	err     error
}

type lookupRequest struct {
	answered
	name  string
	view  world.View
	found bool
}

type retireRequest struct {
	answered
	notifiers []code.Notifier
}

type restoreRequest struct {
	answered
	notifiers []code.Notifier
}

type alertsRequest struct {
	answered
	alerts []Alert
	now    time.Time
}

// serve answers one request on the owner goroutine.
func (o *Owner) serve(r request) {
	switch r := r.(type) {
	case *runningRequest:
		r.running = o.world.Running()
	case *handoverRequest:
		r.file = o.handover()
	case *sharesRequest:
		r.shares = o.world.Shares(r.ownerOf, r.n)
	case *ownershipRequest:
		r.result = o.setOwnership(r.owns, r.hold, r.handover, time.Now())
	case *applyRequest:
		r.stats, r.carried, r.err = o.apply(r.ms, r.kept, time.Now())
	case *lookupRequest:
		r.view, r.found = o.lookup(r.name)
	case *retireRequest:
		o.retire(r.notifiers, time.Now())
	case *restoreRequest:
		o.restore(r.notifiers, time.Now())
	case *alertsRequest:
		o.routeAlerts(r.alerts, r.now)
	}
	close(r.reply().done)
}

// ask hands r to the owner and waits for its answer. Once the owner has
// taken r it is answered whatever ctx says: returning early would let the
// caller read what the owner is still writing, and report as undone what
// is done.
func (o *Owner) ask(ctx context.Context, r request) error {
	done := make(chan struct{})
	r.reply().done = done
	select {
	case o.inbox <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// Running lists the monitors in effect, for config.ParseChanges.
func (o *Owner) Running(ctx context.Context) (world.Running, error) {
	r := &runningRequest{}
	err := o.ask(ctx, r)
	return r.running, err
}

// Apply makes the running monitors those of a parsed and built file: its
// monitors (parsed because they are new or changed) and kept (unchanged,
// not parsed again), with its routes for the inbound alerts. carried lists
// the instances that only kept monitors use, which the new configuration
// must adopt. On error nothing changed.
func (o *Owner) Apply(ctx context.Context, ms *config.Monitors, kept world.Kept) (world.ApplyStats, []config.InstanceKeys, error) {
	r := &applyRequest{ms: ms, kept: kept}
	if err := o.ask(ctx, r); err != nil {
		return world.ApplyStats{}, nil, err
	}
	return r.stats, r.carried, r.err
}

// Ownership is what SetOwnership changed.
type Ownership struct {
	Gained, Lost, Owned int
	Adopted             int // gained monitors whose incident state came with them
	AdoptedNames        []string
}

// SetOwnership says which monitors this replica checks from now on (a
// cluster's ring; nil: all). A monitor lost with an incident open here is
// dropped from the code path without a resolution: its new owner carries
// it on. A monitor gained takes over what handover holds of it (another
// replica's incident state, open incident and held codes), so its
// incident goes on here without a second page.
func (o *Owner) SetOwnership(ctx context.Context, owns func(name string) bool, hold time.Duration, handover *state.File) (Ownership, error) {
	r := &ownershipRequest{owns: owns, hold: hold, handover: handover}
	err := o.ask(ctx, r)
	return r.result, err
}

// Shares counts the monitors each of n members owns by ownerOf.
func (o *Owner) Shares(ctx context.Context, ownerOf func(name string) int, n int) ([]int, error) {
	r := &sharesRequest{ownerOf: ownerOf, n: n}
	err := o.ask(ctx, r)
	return r.shares, err
}

// Owned is how many monitors this replica checks; safe from any goroutine.
func (o *Owner) Owned() int { return int(o.owned.Load()) }

// Lookup returns a monitor's state.
func (o *Owner) Lookup(ctx context.Context, name string) (world.View, bool, error) {
	r := &lookupRequest{name: name}
	err := o.ask(ctx, r)
	return r.view, r.found, err
}

// Retire hands over the notifiers a reload left unused: what they hold is
// resolved (or taken over by a new instance for the same destination),
// and each is closed once its last delivery finished.
func (o *Owner) Retire(ctx context.Context, notifiers []code.Notifier) error {
	return o.ask(ctx, &retireRequest{notifiers: notifiers})
}

func (o *Owner) retire(notifiers []code.Notifier, now time.Time) {
	retired := make(map[code.Notifier]bool, len(notifiers))
	for _, n := range notifiers {
		retired[n] = true
	}
	o.codePath.Reconcile(o.world.NotifiersOf, retired, now)
	o.codes.Retire(notifiers)
}

// Restore applies the state directory read at start to the monitors of
// the first configuration; notifiers are that configuration's. Call it
// once, after the first Apply; before it, no state is written.
func (o *Owner) Restore(ctx context.Context, notifiers []code.Notifier) error {
	return o.ask(ctx, &restoreRequest{notifiers: notifiers})
}

// lookup is a monitor's view with its open incident.
func (o *Owner) lookup(name string) (world.View, bool) {
	v, ok := o.world.Lookup(name)
	if ok {
		var root trace.SpanContext
		v.Incident, root = o.codePath.Incident(name)
		if root.IsValid() {
			v.TraceID = root.TraceID().String()
		}
	}
	return v, ok
}

// RouteAlerts dispatches alerts from Alertmanager and sets each one's
// Result (and Intervened).
func (o *Owner) RouteAlerts(ctx context.Context, alerts []Alert, now time.Time) error {
	return o.ask(ctx, &alertsRequest{alerts: alerts, now: now})
}

// apply is Apply on the owner goroutine.
func (o *Owner) apply(ms *config.Monitors, kept world.Kept, now time.Time) (world.ApplyStats, []config.InstanceKeys, error) {
	if err := o.world.Conflicts(ms.File, ms.Monitors, kept); err != nil {
		return world.ApplyStats{}, nil, err
	}
	st, carried := o.world.ApplyKept(ms.Monitors, ms.Instances, kept, now, &o.fx)
	o.owned.Store(int64(o.world.Owned()))
	o.codePath.SetRelayRoutes(world.NewRoutes(ms.AlertmanagerWebhook.Codes, ms.Instances))
	o.flushEffects() // gray codes for removed and disabled monitors; their incidents close
	o.codePath.Reconcile(o.world.NotifiersOf, nil, now)
	o.flushStates(now)
	return st, carried, nil
}

// setOwnership is SetOwnership on the owner goroutine.
func (o *Owner) setOwnership(owns func(name string) bool, hold time.Duration, handover *state.File, now time.Time) Ownership {
	gained, lost, lostOpen := o.world.SetOwnership(owns, hold, now)
	o.owned.Store(int64(o.world.Owned()))
	for _, name := range lostOpen {
		o.codePath.Drop(domain.Subject{Name: name})
	}
	adopted := o.adopt(handover, now)
	o.lastStateFlush = time.Time{} // cpra_monitors follows at once
	o.flushStates(now)
	return Ownership{Gained: gained, Lost: lost, Owned: o.world.Owned(), Adopted: len(adopted), AdoptedNames: adopted}
}

// adopt takes over the incident state another replica handed over for
// the monitors this one owns now and has no incident of: the status (so
// spent interventions count against the guard), the open incident (its
// ID and trace) and what the receivers hold (found by destination among
// the monitor's notifiers), so the incident goes on without a new page.
func (o *Owner) adopt(f *state.File, now time.Time) []string {
	if f == nil {
		return nil
	}
	take := func(name string) bool {
		_, has := o.codePath.Entry(domain.Subject{Name: name})
		return !has && !o.world.Foreign(name) && o.world.Has(name)
	}
	var names []string
	mine := &state.File{}
	for _, m := range f.Monitors {
		if !take(m.Name) {
			continue
		}
		st, err := m.Status()
		if err != nil {
			o.log.Warn("cluster: handed-over state not taken", "err", err)
			continue
		}
		o.world.Restore(m.Name, st, now, &o.fx)
		names = append(names, m.Name)
	}
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	byDest := map[string]code.Notifier{}
	for _, oi := range f.Open {
		if taken[oi.Monitor] {
			mine.Open = append(mine.Open, oi)
		}
	}
	for _, h := range f.Held {
		if h.About != "" || !taken[h.Subject] {
			continue
		}
		mine.Held = append(mine.Held, h)
		for _, c := range domain.All {
			ns, _ := o.world.NotifiersOf(h.Subject, c)
			for _, n := range ns {
				byDest[n.Destination()] = n
			}
		}
	}
	o.takeChanges()
	o.codePath.Restore(mine, byDest, func(name string) bool { return taken[name] }, now)
	o.flushEffects()
	return names
}

// Handover is this replica's incident state of the monitors it owns, for
// the peers that would take them over: the status of every monitor in an
// incident or with interventions spent, its open incident, and the firing
// codes receivers hold for it.
func (o *Owner) Handover(ctx context.Context) (*state.File, error) {
	r := &handoverRequest{}
	err := o.ask(ctx, r)
	return r.file, err
}

// handoverRequest asks for the owned monitors' incident state.
type handoverRequest struct {
	answered
	file *state.File
}

func (o *Owner) handover() *state.File {
	f := &state.File{}
	o.world.Each(func(m world.Monitor) {
		if st := m.Status; (st.State.Open() || st.Interventions > 0 || st.Guarded) && !o.world.Foreign(m.Name()) {
			f.Monitors = append(f.Monitors, state.FromStatus(m.Name(), st))
		}
	})
	all := &state.File{}
	o.codePath.Save(all)
	for _, oi := range all.Open {
		if !o.world.Foreign(oi.Monitor) {
			f.Open = append(f.Open, oi)
		}
	}
	for _, h := range all.Held {
		if h.About == "" && o.world.Has(h.Subject) && !o.world.Foreign(h.Subject) {
			f.Held = append(f.Held, h)
		}
	}
	return f
}
