package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/amwebhook"
	"github.com/cpra-agent/cpra-agent/agent/cluster"
	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/owner"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Source produces the monitor file's contents: the --yaml file, or the
// embedded example.
type Source struct {
	Name string
	Read func() ([]byte, error)
}

// Agent is the running program: the owner of the monitors, the
// configuration it loaded, and whether it is ready.
type Agent struct {
	cfg    config.Agent
	log    *slog.Logger
	m      *telemetry.Metrics
	kinds  *config.Kinds
	source Source

	owner   *owner.Owner
	webhook *amwebhook.Handler // POST /api/v1/alertmanager/webhook

	reloadMu  sync.Mutex
	instances *config.Instances
	ready     atomic.Bool
	cluster   atomic.Pointer[cluster.Cluster] // nil when the agent runs alone
}

// New builds an agent; Run starts it.
func New(cfg config.Agent, kinds *config.Kinds, source Source, m *telemetry.Metrics, tracing *telemetry.Tracing, log *slog.Logger) (*Agent, error) {
	o, err := owner.New(cfg, m, tracing, log)
	if err != nil {
		return nil, err
	}
	o.InitCodeSeries(kinds.NotifierNames())
	a := &Agent{cfg: cfg, log: log, m: m, kinds: kinds, source: source, owner: o}
	a.webhook = amwebhook.New(amwebhook.Options{Config: cfg, Router: o, Ready: a.Ready,
		Metrics: m.AlertmanagerWebhook, Log: log, BodyTimeout: webLimits.body})
	return a, nil
}

// load reads the monitor file, validates it and builds the instances it
// needs that the running configuration does not have; running holds the
// sources of the monitors in effect, whose unchanged text is not parsed
// again (config.ParseChanges).
func (a *Agent) load(running []uint64) (*config.Monitors, error) {
	data, err := a.source.Read()
	if err != nil {
		return nil, err
	}
	ms, err := config.ParseChanges(a.source.Name, data, a.kinds, a.instances, running)
	if err != nil {
		return nil, err
	}
	if len(running) > 0 && ms.Count() == 0 && !config.DeclaresMonitors(data) {
		return nil, fmt.Errorf("%s: no monitors (the file is empty or has no \"monitors:\" list); "+
			"keeping the %d running monitors. To remove them all, write \"monitors: []\"", a.source.Name, len(running))
	}
	ms.Monitors = a.cfg.Shard.Keep(ms.Monitors)
	if err := ms.Instances.Build(); err != nil {
		return nil, err
	}
	return ms, nil
}

// Reload loads the monitor file and applies it. On any error the running
// configuration stays in place and cpra_config_last_reload_successful is 0.
//
// Only what changed is parsed: the owner lists the running monitors'
// hashes first, and the monitors whose text is unchanged stay as they
// run. A reload of a million-monitor file that changes one monitor hashes
// the file instead of parsing it, so the checks keep their schedule.
func (a *Agent) Reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	start := time.Now()
	var running world.Running
	if a.instances != nil {
		var err error
		if running, err = a.owner.Running(ctx); err != nil {
			return err
		}
	}
	ms, err := a.load(running.Sources)
	var st world.ApplyStats
	if err == nil {
		kept := world.Kept{Entities: running.Entities, Lines: ms.Unchanged}
		var carried []config.InstanceKeys
		if st, carried, err = a.owner.Apply(ctx, ms, kept); err != nil {
			_ = ms.Instances.CloseUnused(context.Background(), a.instances)
		}
		for _, keys := range carried {
			ms.Instances.Adopt(a.instances, keys)
		}
	}
	if err != nil {
		a.m.ReloadSuccessful.Set(0)
		if a.instances != nil { // at start-up there is nothing to keep; Main reports it
			a.log.Error("reload failed; keeping the running configuration", "file", a.source.Name, "err", err)
		}
		// What the rejected file cost (its text, the parsed monitors) is
		// garbage now: give it back to the system rather than keep a
		// large file's peak for as long as the runtime's scavenger takes.
		debug.FreeOSMemory()
		return err
	}
	if a.instances == nil {
		// The first configuration: what the state directory kept from the
		// last run applies to its monitors.
		if err := a.owner.Restore(ctx, ms.Instances.Notifiers()); err != nil {
			a.log.Warn("state not restored", "err", err)
		}
	}
	// The notifiers the new configuration dropped: the owner resolves what
	// they hold and closes each once its last code went out.
	if unused := a.instances.Unused(ms.Instances); a.owner.Retire(ctx, unused) != nil {
		for _, n := range unused { // the owner is gone (shutdown): nothing will use them
			_ = n.Close(context.Background())
		}
	}
	a.instances = ms.Instances
	a.m.ReloadSuccessful.Set(1)
	a.m.ReloadTimestamp.SetToCurrentTime()
	a.log.Info("configuration loaded", "file", a.source.Name, "monitors", st.Added+st.Updated+st.Unchanged,
		"added", st.Added, "updated", st.Updated, "unchanged", st.Unchanged, "removed", st.Removed,
		"parsed", len(ms.Monitors), "duration", time.Since(start).Round(time.Millisecond))
	if st.Added+st.Updated+st.Unchanged >= returnMemoryAfter {
		// Reading (and parsing) a large file needs several times the memory
		// the monitors keep; hand it back now rather than over the
		// background scavenger's minutes, so the resident size reflects the
		// fleet.
		ms, running = nil, world.Running{}
		debug.FreeOSMemory()
	}
	return nil
}

// returnMemoryAfter is the fleet size from which a load returns the
// parser's memory to the system at once.
const returnMemoryAfter = 100_000

// Lookup returns a monitor's state.
func (a *Agent) Lookup(ctx context.Context, name string) (world.View, bool, error) {
	return a.owner.Lookup(ctx, name)
}

// Ready reports whether the first configuration has been applied.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run runs the owner until ctx ends, then drains it and closes every
// notifier instance. The caller applies the first configuration with
// Reload once Run started.
func (a *Agent) Run(ctx context.Context) error {
	// Not ready from the moment shutdown starts: the drain can take the
	// whole shutdown timeout.
	stop := context.AfterFunc(ctx, func() { a.ready.Store(false) })
	defer stop()
	err := a.owner.Run(ctx)
	errs := []error{err}
	errs = append(errs, a.instances.CloseUnused(context.Background(), nil))
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("shutdown incomplete", "err", err)
		return err
	}
	a.log.Info("shutdown complete")
	return nil
}
