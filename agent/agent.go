package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/breaker"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// maxResultBatch bounds how many outcomes the owner applies before it
// looks at its other inputs again.
const maxResultBatch = 1024

// Source produces the monitor file's contents: the --yaml file, or the
// embedded example.
type Source struct {
	Name string
	Read func() ([]byte, error)
}

// Agent runs the monitors of one shard.
type Agent struct {
	cfg    config.Agent
	log    *slog.Logger
	m      *telemetry.Metrics
	kinds  *config.Kinds
	source Source

	world   *world.World
	pulse   *pipeline.Pipeline[world.CheckJob, world.CheckOutcome]
	remedy  *pipeline.Pipeline[world.RemedyJob, world.RemedyOutcome]
	codes   *code.Dispatcher
	control chan func()

	tracing *telemetry.Tracing
	traces  *incidents // owned by the loop goroutine

	hosts   *hostBreakers      // pulse breakers, by target host; owned by the loop goroutine
	targets *pipeline.Breakers // intervention breakers, by remedy destination

	webhook     *amWebhook        // POST /api/v1/alertmanager/webhook
	extraLabels map[string]string // on every code (the shard)

	reloadMu  sync.Mutex
	instances *config.Instances
	retired   []*config.Instances // closed on shutdown; pending codes may still use them
	ready     atomic.Bool

	// Owned by the loop goroutine.
	fx            world.Effects
	waitingRemedy []waitingRemedy
	lastStop      int64 // when the scheduler last stopped at the high water mark (unix ns)
	// Until then, the agent counts as saturated: a check that times out
	// is inconclusive rather than a failure of its target.
	saturatedUntil time.Time
	lastTick       time.Time
	checkCounts    map[string]*checkCounters // by check type
	stateGauges    [incident.NumStates]gaugeSetter
	lastStateFlush time.Time
	alertRoutes    config.Codes  // the monitor file's alertmanager_webhook.codes
	triggers       alertTriggers // alerts that asked for an intervention
}

// waitingRemedy is an intervention the queue has not accepted yet.
type waitingRemedy struct {
	job      world.RemedyJob
	deferred bool // counted in cpra_backpressure_deferred_total already
}

type gaugeSetter interface{ Set(float64) }

// New builds an agent; Run starts it.
func New(cfg config.Agent, kinds *config.Kinds, source Source, m *telemetry.Metrics, tracing *telemetry.Tracing, log *slog.Logger) (*Agent, error) {
	if tracing == nil {
		tracing = &telemetry.Tracing{}
	}
	extra := shardLabels(cfg.Shard)
	w, err := world.New(time.Now(), world.Options{Tick: cfg.Scheduler.Tick, Labels: extra,
		Series: newMonitorSeries(m, cfg.Metrics, log.With("component", "metrics"))})
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: log, m: m, kinds: kinds, source: source,
		world:   w,
		control: make(chan func()),
		tracing: tracing,
		traces:  newIncidents(tracing),

		extraLabels: extra,
		triggers:    alertTriggers{},
	}
	a.webhook = newAMWebhook(a)
	for s := range incident.NumStates {
		a.stateGauges[s] = m.Monitors.WithLabelValues(s.String())
	}
	p := cfg.Pipelines
	a.checkCounts = map[string]*checkCounters{}
	if a.hosts, err = newHostBreakers(p.Pulse.Breaker, m, log, tracing); err != nil {
		return nil, err
	}
	if a.targets, err = pipeline.NewBreakers(telemetry.PipelineIntervention, breakerConfig(p.Intervention), m, log, tracing); err != nil {
		return nil, err
	}
	pulseCfg := pipelineConfig(telemetry.PipelinePulse, p.Pulse, log, tracing)
	pulseCfg.MaxOpenFiles = pipeline.OpenFilesBudget()
	if a.pulse, err = pipeline.New(pulseCfg, a.check, m); err != nil {
		return nil, err
	}
	if a.remedy, err = pipeline.New(pipelineConfig(telemetry.PipelineIntervention, p.Intervention, log, tracing), a.intervene, m); err != nil {
		return nil, err
	}
	a.codes, err = code.NewDispatcher(pipelineConfig(telemetry.PipelineCode, p.Code, log, tracing), code.RetryPolicy{
		InitialBackoff: cfg.Codes.InitialBackoff, MaxBackoff: cfg.Codes.MaxBackoff,
		MaxAge: cfg.Codes.MaxAge, AttemptTimeout: cfg.Codes.AttemptTimeout,
	}, breakerConfig(p.Code), m, log.With("component", "code"))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// load reads the monitor file and validates it, reusing the running
// instances; running holds the hashes of the monitors in effect, whose
// unchanged text is not parsed again (config.ParseChanges).
func (a *Agent) load(running []uint64) (*config.Monitors, error) {
	data, err := a.source.Read()
	if err != nil {
		return nil, err
	}
	ms, err := config.ParseChanges(a.source.Name, data, a.kinds, a.instances, running)
	if err != nil {
		return nil, err
	}
	ms.Monitors = a.shard(ms.Monitors)
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
		if err := a.onOwner(ctx, func() { running = a.world.Running() }); err != nil {
			return err
		}
	}
	ms, err := a.load(running.Hashes)
	var st world.ApplyStats
	if err == nil {
		kept := world.Kept{Entities: running.Entities, Lines: ms.Unchanged}
		var carried []config.InstanceKeys
		if oerr := a.onOwner(ctx, func() {
			if err = a.world.Conflicts(a.source.Name, ms.Monitors, kept); err != nil {
				return
			}
			now := time.Now()
			st, carried = a.world.ApplyKept(ms.Monitors, kept, now, &a.fx)
			a.alertRoutes = ms.AlertmanagerWebhook.Codes
			a.flushEffects() // the gray codes still join their incidents' traces
			a.traces.closeGone(now, func(name string) (incident.State, bool) {
				v, ok := a.world.Lookup(name)
				return v.State, ok
			})
			a.flushStates(now)
		}); oerr != nil {
			_ = ms.Instances.CloseUnused(context.Background(), a.instances)
			return oerr
		}
		if err != nil {
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
		return err
	}
	if a.instances != nil {
		a.retired = append(a.retired, a.instances)
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

// onOwner runs f on the owner goroutine and waits for it.
func (a *Agent) onOwner(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case a.control <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Taken: f runs now, whatever ctx says. Returning early would let the
	// caller read what f is still writing, and report as undone what is done.
	<-done
	return nil
}

// Lookup returns a monitor's state, read on the owner goroutine.
func (a *Agent) Lookup(ctx context.Context, name string) (world.View, bool, error) {
	var v world.View
	var ok bool
	err := a.onOwner(ctx, func() { v, ok = a.world.Lookup(name) })
	return v, ok, err
}

// Ready reports whether the first configuration has been applied.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run is the owner loop. It returns after ctx ends and everything drained.
// The caller applies the first configuration with Reload once Run started.
func (a *Agent) Run(ctx context.Context) error {
	ticker := time.NewTicker(a.cfg.Scheduler.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return a.shutdown()
		case now := <-ticker.C:
			a.tick(now)
		case o := <-a.pulse.Results():
			a.applyChecks(o)
		case o := <-a.remedy.Results():
			a.applyRemedy(o, time.Now())
			a.flushEffects()
		case f := <-a.control:
			f()
		}
	}
}

func (a *Agent) tick(now time.Time) {
	a.submitRemedies()
	if !a.lastTick.IsZero() && now.Sub(a.lastTick) > a.cfg.Scheduler.Tick+saturationLag {
		// The owner itself ran late: the process is starved.
		a.saturated(now)
	}
	a.lastTick = now
	if a.world.Offer(now, a.offerCheck) {
		// The pulse queue is at its high water mark: the rest stay due
		// and are offered again next tick; their lag keeps growing.
		a.lastStop = now.UnixNano()
		a.saturated(now)
	}
	a.flushHosts(now)
	a.flushEffects()
	a.flushStates(now)
}

// saturationLag is how far behind schedule the agent may run before its
// own timeouts stop counting as evidence about targets.
const saturationLag = time.Second

// saturationHold is how long the agent counts as saturated after the last
// sign of it: checks started then may still be finishing.
const saturationHold = 10 * time.Second

func (a *Agent) saturated(now time.Time) {
	a.saturatedUntil = now.Add(saturationHold)
}

// offerCheck hands a due check to the pulse pipeline. A check whose host's
// breaker is open is not run: it fails at once with the breaker as its
// reason, so the monitor still shows failing and why, without a worker
// waiting on a dead host. Refusal (backpressure) leaves the monitor due.
func (a *Agent) offerCheck(j world.CheckJob) world.Offer {
	if a.pulse.Backpressure() {
		return world.Refused
	}
	host := pulse.HostOf(j.Target.Address)
	now := time.Now()
	if host != "" {
		allowed, trial := a.hosts.Allow(host, now)
		if !allowed {
			// Not run, and not a failure: the host's one red code says
			// why its monitors are not checked.
			a.hosts.Rejected(host)
			return world.Skipped
		}
		j.Trial = trial
	}
	due := time.Unix(0, j.Due)
	if !a.pulse.TrySubmitAt(j, due) {
		if host != "" {
			a.hosts.Release(host, j.Trial)
		}
		return world.Refused
	}
	if j.Due <= a.lastStop {
		// Due when the scheduler last stopped at the high water mark, and
		// only now accepted: it was deferred.
		a.m.Deferred.WithLabelValues(telemetry.PipelinePulse).Inc()
	}
	if now.Sub(due) > saturationLag {
		a.saturated(now) // behind schedule
	}
	return world.Accepted
}

// applyChecks applies o and whatever else is already waiting, in one batch.
func (a *Agent) applyChecks(o world.CheckOutcome) {
	now := time.Now()
	a.applyCheck(o, now)
drain:
	for range maxResultBatch - 1 {
		select {
		case o, ok := <-a.pulse.Results():
			if !ok {
				break drain
			}
			a.applyCheck(o, now)
		default:
			break drain
		}
	}
	a.flushEffects()
}

// flushEffects hands codes to the dispatcher and remedies to their pipeline.
func (a *Agent) flushEffects() {
	for _, d := range a.fx.Codes {
		n := d.Notification
		if !d.Foreign {
			n.Trace = a.traces.context(n.Monitor)
		}
		attrs := []any{"monitor", n.Monitor, "code", n.Code.String(), "state", n.State, "message", n.Message, "receivers", len(d.Targets)}
		if id := n.TraceID(); id != "" {
			attrs = append(attrs, "trace_id", id)
		}
		a.log.Info("code", attrs...)
		a.codes.Send(n, d.Targets)
	}
	for _, j := range a.fx.Remedies {
		j.Trace = a.traces.context(j.Request.Monitor)
		a.waitingRemedy = append(a.waitingRemedy, waitingRemedy{job: j})
	}
	a.fx.Reset()
	a.traces.closeRecovered() // after their green codes took the trace
	a.submitRemedies()
}

// applyCheck applies one check outcome, records the check's span (in the
// monitor's incident trace when it has one) and its duration, with the
// span's trace as an exemplar.
func (a *Agent) applyCheck(o world.CheckOutcome, now time.Time) {
	r := &o.Result
	if !r.OK && r.Inconclusive == "" && r.TimedOut && now.Before(a.saturatedUntil) {
		// A timeout while the agent itself is behind or under
		// backpressure measures the agent, not the target.
		r.Inconclusive = pulse.InconclusiveSaturated
	}
	host := pulse.HostOf(o.Address)
	if host != "" {
		if r.Inconclusive == "" {
			a.hosts.Record(host, o.Trial, r.HostDown, now)
		} else {
			a.hosts.Release(host, o.Trial)
		}
	}
	a.countCheck(o)
	m, applied := a.world.ApplyCheck(o, now, &a.fx)
	if !applied {
		return // stale: the monitor changed while the check ran
	}
	if r.Inconclusive != "" {
		return // neither for nor against the monitor: no span, no duration
	}
	sc := a.traces.check(m.Name, m.CheckType, o.Started, o.Duration, r.OK, r.Reason, m.State)
	obs := a.m.CheckDuration.WithLabelValues(m.CheckType)
	if sc.IsSampled() {
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(o.Duration.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	obs.Observe(o.Duration.Seconds())
}

// applyRemedy applies an intervention's outcome and records its span.
func (a *Agent) applyRemedy(o world.RemedyOutcome, now time.Time) {
	if host := pulse.HostOf(o.Address); o.Err == nil && host != "" {
		// The remedy changed what is behind the host: check it again now
		// instead of waiting out its breaker, so verification can succeed.
		a.hosts.Forget(host)
		a.flushHosts(now)
	}
	a.traces.remedy(o.Monitor, o.Type, o.Destination, o.Started, o.Ended, o.Err)
	a.world.ApplyRemedy(o, now, &a.fx)
}

// submitRemedies queues waiting remedies; a full queue keeps them waiting
// (counted once as deferred), never drops them. A remedy whose target's
// breaker is open is not attempted: it fails at once with the breaker as
// the reason, which sends red like any failed intervention.
func (a *Agent) submitRemedies() {
	now := time.Now()
	kept := a.waitingRemedy[:0]
	for i := range a.waitingRemedy {
		w := &a.waitingRemedy[i]
		dest := w.job.Remedy.Destination(w.job.Request)
		allowed, trial := a.targets.Allow(dest, now)
		w.job.Trial = trial
		if !allowed {
			a.targets.Rejected(dest)
			a.m.Interventions.WithLabelValues(w.job.Type, "failure").Inc()
			a.applyRemedy(world.RemedyOutcome{Entity: w.job.Entity,
				Err:     fmt.Errorf("not attempted: circuit breaker open for %s after repeated failures", dest),
				Monitor: w.job.Request.Monitor, Type: w.job.Type, Destination: dest, Started: now, Ended: now}, now)
			continue
		}
		if !a.remedy.TrySubmit(w.job) {
			a.targets.Release(dest, trial)
			if !w.deferred {
				w.deferred = true
				a.m.Deferred.WithLabelValues(telemetry.PipelineIntervention).Inc()
			}
			kept = append(kept, a.waitingRemedy[i:]...)
			break
		}
	}
	clear(a.waitingRemedy[len(kept):])
	a.waitingRemedy = kept
	if len(a.fx.Codes) > 0 || len(a.fx.Remedies) > 0 {
		a.flushEffects() // rejected remedies send their codes now
	}
}

// flushStates publishes cpra_monitors at most once a second.
func (a *Agent) flushStates(now time.Time) {
	if now.Sub(a.lastStateFlush) < time.Second {
		return
	}
	a.lastStateFlush = now
	for s, n := range a.world.Counts() {
		a.stateGauges[s].Set(float64(n))
	}
}

// check runs on a pulse worker.
func (a *Agent) check(ctx context.Context, j world.CheckJob) world.CheckOutcome {
	if lag := time.Since(time.Unix(0, j.Due)); lag > 0 {
		a.m.ScheduleLag.Observe(lag.Seconds())
	} else {
		a.m.ScheduleLag.Observe(0)
	}
	started := time.Now()
	r, d := pulse.Run(ctx, j.Prober, j.Target, j.Timeout)
	return world.CheckOutcome{Entity: j.Entity, Due: j.Due, Type: j.Type, Address: j.Target.Address,
		Result: r, Started: started, Duration: d, Trial: j.Trial}
}

// checkCounters are one check type's cpra_checks_total series.
type checkCounters struct {
	success, failure, inconclusive prometheus.Counter
	byReason                       map[string]prometheus.Counter
}

// countCheck counts a check that ran, on the owner: whether it was
// conclusive is decided here.
func (a *Agent) countCheck(o world.CheckOutcome) {
	c := a.checkCounts[o.Type]
	if c == nil {
		c = &checkCounters{
			success:      a.m.Checks.WithLabelValues(o.Type, "success"),
			failure:      a.m.Checks.WithLabelValues(o.Type, "failure"),
			inconclusive: a.m.Checks.WithLabelValues(o.Type, "inconclusive"),
			byReason:     map[string]prometheus.Counter{},
		}
		a.checkCounts[o.Type] = c
	}
	r := o.Result
	switch {
	case r.Inconclusive != "":
		c.inconclusive.Inc()
		rc := c.byReason[r.Inconclusive]
		if rc == nil {
			rc = a.m.ChecksInconclusive.WithLabelValues(o.Type, r.Inconclusive)
			c.byReason[r.Inconclusive] = rc
		}
		rc.Inc()
		a.log.Debug("check inconclusive", "type", o.Type, "address", o.Address, "reason", r.Inconclusive, "detail", r.Reason)
	case r.OK:
		c.success.Inc()
	default:
		c.failure.Inc()
		a.log.Debug("check failed", "type", o.Type, "address", o.Address, "reason", r.Reason)
	}
}

// intervene runs on an intervention worker.
func (a *Agent) intervene(ctx context.Context, j world.RemedyJob) world.RemedyOutcome {
	log := a.log.With("component", "intervention", "monitor", j.Request.Monitor, "type", j.Type)
	if j.Trace.IsValid() {
		log = log.With("trace_id", j.Trace.TraceID().String())
	}
	log.Info("intervention started", "reason", j.Request.Reason)
	start := time.Now()
	err := intervention.Run(ctx, j.Remedy, j.Request)
	dest := j.Remedy.Destination(j.Request)
	a.targets.Record(dest, j.Trial, err == nil, time.Now())
	result := "success"
	if err != nil {
		result = "failure"
		log.Warn("intervention failed", "err", err, "duration", time.Since(start).Round(time.Millisecond))
	} else {
		log.Info("intervention succeeded", "duration", time.Since(start).Round(time.Millisecond))
	}
	a.m.Interventions.WithLabelValues(j.Type, result).Inc()
	return world.RemedyOutcome{Entity: j.Entity, Err: err, Address: j.Address, Monitor: j.Request.Monitor, Type: j.Type, Destination: dest, Started: start, Ended: time.Now()}
}

// shutdown drains: no new checks; running checks and remedies finish (until
// the shutdown timeout) and their outcomes are applied; every pending code
// is flushed; notifiers are closed.
func (a *Agent) shutdown() error {
	a.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.log.Info("shutting down: draining checks, interventions and codes", "timeout", a.cfg.ShutdownTimeout)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = a.pulse.Close(ctx, false) }()
	go func() { defer wg.Done(); errs[1] = a.remedy.Close(ctx, false) }()
	pulses, remedies := a.pulse.Results(), a.remedy.Results()
	for pulses != nil || remedies != nil {
		select {
		case o, ok := <-pulses:
			if !ok {
				pulses = nil
				continue
			}
			a.applyCheck(o, time.Now())
		case o, ok := <-remedies:
			if !ok {
				remedies = nil
				continue
			}
			a.applyRemedy(o, time.Now())
		case f := <-a.control:
			f()
		}
		a.flushEffects()
	}
	wg.Wait()
	if n := len(a.waitingRemedy); n > 0 {
		a.m.QueueDropped.WithLabelValues(telemetry.PipelineIntervention, "shutdown").Add(float64(n))
		a.log.Warn("interventions not started before shutdown", "count", n)
	}
	a.traces.closeAll(time.Now())
	a.codes.Flush(ctx)
	errs = append(errs, a.codes.Close(ctx))
	for _, in := range append(a.retired, a.instances) {
		errs = append(errs, in.CloseUnused(ctx, nil))
	}
	err := errors.Join(errs...)
	if err != nil {
		a.log.Warn("shutdown incomplete", "err", err)
	} else {
		a.log.Info("shutdown complete")
	}
	return err
}

// pipelineConfig turns a pipeline's configuration into the engine's.
func pipelineConfig(name string, c config.Pipeline, log *slog.Logger, tracing *telemetry.Tracing) pipeline.Config {
	return pipeline.Config{
		Name:          name,
		QueueCapacity: c.Queue.Capacity,
		HighWater:     c.Queue.HighWater,
		LowWater:      c.Queue.LowWater,
		MinWorkers:    c.Workers.Min,
		MaxWorkers:    c.Workers.Max,
		Sizing: pipeline.Sizing{
			SLO: c.Sizing.SLO, Quantile: c.Sizing.Quantile,
			Headroom: c.Sizing.Headroom, Interval: c.Sizing.Interval,
		},
		Log:     log.With("component", "sizing"),
		Tracing: tracing,
	}
}

func breakerConfig(c config.Pipeline) breaker.Config {
	return breaker.Config{
		FailureThreshold: c.Breaker.FailureThreshold,
		OpenTimeout:      c.Breaker.OpenTimeout,
		HalfOpenRequests: c.Breaker.HalfOpenRequests,
	}
}

// shard keeps the monitors this replica owns: a stable hash of the name
// modulo the shard count, so every monitor belongs to exactly one shard.
func (a *Agent) shard(ms []config.Monitor) []config.Monitor {
	if a.cfg.Shard.Count <= 1 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if a.owns(ShardOf(m.Name, a.cfg.Shard.Count)) {
			out = append(out, m)
		}
	}
	return out
}

// owns reports whether shard is this replica's.
func (a *Agent) owns(shard int) bool {
	return a.cfg.Shard.Count <= 1 || shard == a.cfg.Shard.Index
}

// ShardOf is the shard a monitor name belongs to.
func ShardOf(name string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int(h.Sum64() % uint64(count))
}

func shardLabels(s config.Shard) map[string]string {
	if s.Count <= 1 {
		return nil
	}
	return map[string]string{"shard": fmt.Sprint(s.Index)}
}
