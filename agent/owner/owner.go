package owner

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/codepath"
	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/agent/world"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/pipeline"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// maxResultBatch bounds how many outcomes the owner applies before it
// looks at its other inputs again.
const maxResultBatch = 1024

// Owner runs the monitors of one shard. Everything it holds belongs to
// the goroutine running Run: other goroutines reach it only through the
// request methods (Running, Apply, Lookup, RouteAlerts), which hand it a
// typed message and wait for the answer.
type Owner struct {
	cfg   config.Agent
	log   *slog.Logger
	m     *telemetry.Metrics
	inbox chan request

	world  *world.World
	pulse  *pipeline.Pipeline[world.CheckJob, world.CheckOutcome]
	remedy *pipeline.Pipeline[world.RemedyJob, world.RemedyOutcome]
	codes  *code.Dispatcher

	codePath *codepath.Path     // incidents, what holders hold, host and relayed codes
	hosts    *hostBreakers      // pulse breakers, by target host
	targets  *pipeline.Breakers // intervention breakers, by remedy destination
	// Checks and remedies handed out as their breaker's half-open trial,
	// by monitor (a monitor has at most one of each in flight).
	hostTrials, targetTrials map[ecs.Entity]struct{}
	labels                   map[string]string // on every code (the shard)

	fx             world.Effects
	waitingRemedy  []waitingRemedy
	stops          stops
	checkCounts    map[string]*checkCounters // by check type
	stateGauges    [incident.NumStates]gaugeSetter
	lastStateFlush time.Time
	triggers       alertTriggers // alerts that asked for an intervention
	owned          atomic.Int64  // monitors this replica checks, for the scrape
	storage        storage       // the state directory
}

type gaugeSetter interface{ Set(float64) }

// New builds an owner and its pipelines; Run starts it.
func New(cfg config.Agent, m *telemetry.Metrics, tracing *telemetry.Tracing, log *slog.Logger) (*Owner, error) {
	if tracing == nil {
		tracing = &telemetry.Tracing{}
	}
	labels := cfg.Shard.Labels()
	w, err := world.New(time.Now(), world.Options{Tick: cfg.Scheduler.Tick, Labels: labels,
		Series: newMonitorSeries(m, cfg.Metrics, log.With("component", "metrics"))})
	if err != nil {
		return nil, err
	}
	o := &Owner{
		cfg: cfg, log: log, m: m,
		inbox: make(chan request),
		world: w,

		hostTrials:   map[ecs.Entity]struct{}{},
		targetTrials: map[ecs.Entity]struct{}{},
		labels:       labels,
		checkCounts:  map[string]*checkCounters{},
		triggers:     alertTriggers{},
	}
	for s := range incident.NumStates {
		o.stateGauges[s] = m.Monitors.WithLabelValues(s.String())
	}
	p := cfg.Pipelines
	if o.hosts, err = newHostBreakers(p.Pulse.Breaker, m.Registry, log, tracing); err != nil {
		return nil, err
	}
	if o.targets, err = pipeline.NewBreakers(telemetry.PipelineIntervention, breakerConfig(p.Intervention), m.Registry, log, tracing); err != nil {
		return nil, err
	}
	pulseCfg := pipelineConfig(telemetry.PipelinePulse, p.Pulse, log, tracing)
	pulseCfg.MaxOpenFiles = pipeline.OpenFilesBudget()
	if o.pulse, err = pipeline.New(pulseCfg, newChecker(m.ScheduleLag, m.ScheduleLagRatio), m.Registry); err != nil {
		return nil, err
	}
	o.pulse.SetLocalTime(func(out world.CheckOutcome) time.Duration { return out.SlotWait })
	if o.remedy, err = pipeline.New(pipelineConfig(telemetry.PipelineIntervention, p.Intervention, log, tracing), newIntervener(log), m.Registry); err != nil {
		return nil, err
	}
	o.loadState()
	o.codes, err = code.NewDispatcher(pipelineConfig(telemetry.PipelineCode, p.Code, log, tracing), code.RetryPolicy{
		InitialBackoff: cfg.Codes.InitialBackoff, MaxBackoff: cfg.Codes.MaxBackoff,
		MaxAge: cfg.Codes.MaxAge, AttemptTimeout: cfg.Codes.AttemptTimeout,
	}, breakerConfig(p.Code), m.Registry, log.With("component", "code"), code.WithDestinationLimit(cfg.Codes.PerDestination))
	if err != nil {
		return nil, err
	}
	o.codePath = codepath.New(codepath.Config{Send: o.codes.Send, Tracing: tracing, Log: log, Labels: labels,
		MaxRelayed: cfg.AlertmanagerWebhook.MaxRelayedAlerts})
	return o, nil
}

// InitCodeSeries creates the code series of every colour, result and the
// given notifier kinds at zero; call it before the first scrape.
func (o *Owner) InitCodeSeries(notifierKinds []string) { o.codes.InitSeries(notifierKinds) }

// Run is the owner loop. It returns after ctx ends and everything drained.
func (o *Owner) Run(ctx context.Context) error {
	ticker := time.NewTicker(o.cfg.Scheduler.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return o.shutdown()
		case now := <-ticker.C:
			o.tick(now)
		case out := <-o.remedy.Results():
			o.applyRemedy(out, time.Now())
			o.flushEffects()
		case r := <-o.inbox:
			o.serve(r)
		}
	}
}

// tick applies the check outcomes that arrived since the last tick, offers
// the due checks and publishes what changed.
//
// Outcomes wait in the pulse pipeline's buffered result channel for the
// next tick rather than waking the owner one by one: at thousands of
// checks a second, a wake-up of the owner per check cost more CPU than
// applying the outcome, and a tick (10 ms) is the scheduler's resolution
// anyway.
func (o *Owner) tick(now time.Time) {
	o.drainChecks()
	o.submitRemedies(now)
	if o.world.Offer(now, o.offerCheck) {
		// The pulse queue is at its high water mark: the rest stay due
		// and are offered again next tick; their lag keeps growing.
		o.stops.stopped(now)
	}
	o.flushHosts(now)
	o.flushEffects()
	o.codePath.Resend(now)
	o.flushStates(now)
	o.saveEvery(now)
}

// flushEffects hands the codes that applying results produced to the
// dispatcher, queues the remedies and finishes the incidents that closed.
// A remedy refused by its breaker fails at once and may produce codes of
// its own, so it loops until nothing is left.
func (o *Owner) flushEffects() {
	for len(o.fx.Codes) > 0 || len(o.fx.Remedies) > 0 || len(o.fx.Changes) > 0 {
		o.takeChanges()
		now := time.Now()
		for _, d := range o.fx.Codes {
			o.codePath.Dispatch(d, now)
		}
		for _, j := range o.fx.Remedies {
			_, j.Trace = o.codePath.Incident(j.Request.Monitor)
			o.waitingRemedy = append(o.waitingRemedy, waitingRemedy{job: j})
		}
		o.fx.Reset()
		o.codePath.FinishClosed(now) // after their last codes took the incident
		o.submitRemedies(now)
	}
}

// takeChanges hands the world's incident changes to the code path.
func (o *Owner) takeChanges() {
	o.codePath.Take(o.fx.Changes)
	clear(o.fx.Changes)
	o.fx.Changes = o.fx.Changes[:0]
}

// flushStates publishes cpra_monitors at most once a second.
func (o *Owner) flushStates(now time.Time) {
	if now.Sub(o.lastStateFlush) < time.Second {
		return
	}
	o.lastStateFlush = now
	for s, n := range o.world.Counts() {
		o.stateGauges[s].Set(float64(n))
	}
}

// shutdown drains: no new checks; running checks and remedies finish (until
// the shutdown timeout) and their outcomes are applied; every pending code
// is flushed; the dispatcher is closed. Requests still arriving are
// served, so no caller waits for ever.
func (o *Owner) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.ShutdownTimeout)
	defer cancel()
	o.log.Info("shutting down: draining checks, interventions and codes", "timeout", o.cfg.ShutdownTimeout)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = o.pulse.Close(ctx, false) }()
	go func() { defer wg.Done(); errs[1] = o.remedy.Close(ctx, false) }()
	pulses, remedies := o.pulse.Results(), o.remedy.Results()
	for pulses != nil || remedies != nil {
		select {
		case out, ok := <-pulses:
			if !ok {
				pulses = nil
				continue
			}
			o.applyCheck(out, time.Now())
		case out, ok := <-remedies:
			if !ok {
				remedies = nil
				continue
			}
			o.applyRemedy(out, time.Now())
		case r := <-o.inbox:
			o.serve(r)
		}
		o.flushEffects()
	}
	wg.Wait()
	if n := len(o.waitingRemedy); n > 0 {
		o.remedy.Dropped("shutdown", n)
		o.log.Warn("interventions not started before shutdown", "count", n)
	}
	o.codePath.WriteOpenTraces(time.Now())
	o.codes.Flush(ctx)
	errs = append(errs, o.codes.Close(ctx))
	o.saveFinal(o.codes.Undelivered())
	return errors.Join(errs...)
}
