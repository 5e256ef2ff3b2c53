package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"

	"github.com/cpra-agent/cpra-agent/internal/clock"
	"github.com/cpra-agent/cpra-agent/pipelines/queue"
	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Config sizes a pipeline.
type Config struct {
	Name          string // pulse, intervention or code: the `pipeline` label
	QueueCapacity int
	// HighWater and LowWater are fractions of QueueCapacity. At HighWater
	// the pipeline refuses new work until the depth is back at LowWater.
	// A zero HighWater means 1 (refuse only when full).
	HighWater, LowWater float64
	// MinWorkers and MaxWorkers bound the pool. Without sizing the pool
	// runs at MaxWorkers; with it, it starts at MinWorkers and follows the
	// model. MinWorkers 0 means MaxWorkers.
	MinWorkers, MaxWorkers int
	Sizing                 Sizing
	// MaxOpenFiles, when positive, also bounds the pool: every busy worker
	// of a network check may hold a socket, so the pool never grows past
	// what the process can open (see OpenFilesBudget).
	MaxOpenFiles int
	ResultBuffer int          // capacity of the result channel; default QueueCapacity
	Log          *slog.Logger // sizing decisions at debug level; nil discards
	// Tracing records backpressure and sizing changes as spans; nil or
	// disabled records nothing.
	Tracing *telemetry.Tracing
	// Clock times arrivals, queue waits and service for the sizing model;
	// nil is the wall clock. Tests move a clock.Fake.
	Clock clock.Clock
}

// ctxShards is how many children of its context a pipeline hands out.
const ctxShards = 16

// Work runs one job. It must honour ctx, which is cancelled when the
// pipeline is closed without draining.
type Work[J, R any] func(ctx context.Context, job J) R

type queued[J any] struct {
	job J
	at  time.Time
}

// Pipeline is a bounded queue worked by a goroutine pool.
type Pipeline[J, R any] struct {
	name     string
	capacity int
	high     int // depth at which backpressure engages
	low      int // depth at which it lets go
	work     Work[J, R]
	// localTime, when set, tells how much of a job's time on its worker
	// went to waiting for the agent's own resources; see SetLocalTime.
	localTime func(R) time.Duration
	ring      *queue.Ring[queued[J]]
	urgent    *queue.Ring[queued[J]] // served before ring; see TrySubmitUrgentAt
	results   chan R
	pool      *ants.Pool
	meter     *meter
	clock     clock.Clock
	log       *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	// shards are children of ctx that jobs get in turn, so that the
	// contexts work derives from them (a check's deadline) register with
	// one of several parents instead of all with one, under one lock.
	shards      [ctxShards]context.Context
	shardCancel [ctxShards]context.CancelFunc
	nextShard   atomic.Uint32

	mu      sync.RWMutex // guards closed against enqueues after Close
	closed  bool
	discard atomic.Bool // closing without drain: the feeder drops what is left

	ctl             controller  // the sizing controller's memory
	pressed         atomic.Bool // backpressure engaged
	pressedInWindow atomic.Bool // engaged at some point since the last sizing decision
	inflight        sync.WaitGroup
	feeder          chan struct{} // closed when the feeding goroutine exits
	sizer           chan struct{} // closed to stop the sizing controller
	sized           chan struct{} // closed when it has stopped

	m       *series
	tracing *telemetry.Tracing
}

// New starts a pipeline. Its series are registered on reg, labelled with
// its name (cpra_queue_*, cpra_pool_*, cpra_backpressure_*, cpra_sizing_*).
func New[J, R any](cfg Config, work Work[J, R], reg prometheus.Registerer) (*Pipeline[J, R], error) {
	if cfg.HighWater == 0 {
		cfg.HighWater = 1
	}
	if cfg.MinWorkers == 0 {
		cfg.MinWorkers = cfg.MaxWorkers
	}
	switch {
	case cfg.QueueCapacity < 1 || cfg.MinWorkers < 1 || cfg.MaxWorkers < cfg.MinWorkers:
		return nil, fmt.Errorf("pipeline %s: need queue capacity ≥ 1 and 1 ≤ min workers ≤ max workers", cfg.Name)
	case !(cfg.LowWater < cfg.HighWater && cfg.HighWater <= 1 && cfg.LowWater >= 0):
		return nil, fmt.Errorf("pipeline %s: need 0 ≤ low water < high water ≤ 1", cfg.Name)
	}
	if cfg.ResultBuffer < 1 {
		cfg.ResultBuffer = cfg.QueueCapacity
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracing == nil {
		cfg.Tracing = &telemetry.Tracing{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	ring, err := queue.New[queued[J]](cfg.QueueCapacity)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	urgent, err := queue.New[queued[J]](max(cfg.QueueCapacity/urgentShare, 1))
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	start := cfg.MaxWorkers
	if cfg.Sizing.enabled() {
		start = cfg.MinWorkers
	}
	pool, err := ants.NewPool(start)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline[J, R]{
		name:     cfg.Name,
		capacity: cfg.QueueCapacity,
		high:     max(1, int(math.Ceil(cfg.HighWater*float64(cfg.QueueCapacity)))),
		low:      int(math.Floor(cfg.LowWater * float64(cfg.QueueCapacity))),
		work:     work,
		ring:     ring,
		urgent:   urgent,
		results:  make(chan R, cfg.ResultBuffer),
		pool:     pool,
		meter:    newMeter(cfg.Clock.Now()),
		clock:    cfg.Clock,
		log:      cfg.Log.With("pipeline", cfg.Name),
		ctx:      ctx,
		cancel:   cancel,
		feeder:   make(chan struct{}),
		sizer:    make(chan struct{}),
		sized:    make(chan struct{}),
		tracing:  cfg.Tracing,
	}
	if p.m, err = registerMetrics(reg, cfg.Name, p.Stats, fixedGauges{p.high, p.low, cfg.MinWorkers, cfg.MaxWorkers}); err != nil {
		cancel()
		pool.Release()
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	for i := range p.shards {
		p.shards[i], p.shardCancel[i] = context.WithCancel(ctx)
	}
	go p.feed()
	p.ctl.sched.init()
	p.ctl.cpuWait = p.ctl.sched.p90
	if cfg.Sizing.enabled() {
		go p.size(cfg)
	} else {
		close(p.sized)
	}
	return p, nil
}

// SetLocalTime tells the pipeline how much of a job's time on its worker
// went to waiting for the agent's own resources (a connection slot): the
// sizing model leaves it out of the service time, so the pool is sized
// from the work's own time (the targets'), and a local cap's queueing never
// reads as a slow target. Call it before submitting any job.
func (p *Pipeline[J, R]) SetLocalTime(f func(R) time.Duration) { p.localTime = f }

// TrySubmit queues job without blocking. It returns false when the queue
// is at its high water mark (and until it has drained to the low one), or
// when the pipeline is closing; the caller keeps the job and offers it
// again later.
func (p *Pipeline[J, R]) TrySubmit(job J) bool {
	return p.TrySubmitAt(job, time.Time{})
}

// TrySubmitAt is TrySubmit for a job that arrived (became due) at arrived,
// which may be earlier than now: a job deferred by backpressure and
// accepted later is one arrival at the time it was due, so a catch-up burst
// does not read as a surge of new work to the sizing model. A zero arrived
// means now.
func (p *Pipeline[J, R]) TrySubmitAt(job J, arrived time.Time) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed || !p.admit() {
		return false
	}
	return p.enqueue(p.ring, job, arrived)
}

// urgentShare: the urgent lane holds a quarter of the queue's capacity.
const urgentShare = 4

// TrySubmitUrgentAt is TrySubmitAt for a job that must not wait behind
// routine work: it goes to a lane of its own that the workers empty first,
// and the water marks do not hold it back (only a full lane refuses it).
// The agent uses it for checks that confirm or clear an incident, so that
// detection holds while it catches up on routine checks.
func (p *Pipeline[J, R]) TrySubmitUrgentAt(job J, arrived time.Time) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	return p.enqueue(p.urgent, job, arrived)
}

// enqueue adds job to lane; callers hold mu for reading.
func (p *Pipeline[J, R]) enqueue(lane *queue.Ring[queued[J]], job J, arrived time.Time) bool {
	now := p.clock.Now()
	if arrived.IsZero() || arrived.After(now) {
		arrived = now
	}
	p.meter.arrive(now, arrived)
	if !lane.TryEnqueue(queued[J]{job: job, at: now}) {
		p.meter.leave(now) // the ring is full: another producer won the race
		return false
	}
	p.m.enqueued.Inc()
	return true
}

// admit applies the water marks: engage at high, hold until low.
func (p *Pipeline[J, R]) admit() bool {
	depth := p.ring.Len()
	if p.pressed.Load() {
		if depth > p.low {
			return false
		}
		p.release()
	}
	if depth >= p.high || depth >= p.capacity {
		if p.pressed.CompareAndSwap(false, true) {
			p.event("backpressure engaged", depth)
			p.pressedInWindow.Store(true)
			// The feeder may have drained the ring between the depth read
			// and the swap; its own check saw no backpressure yet.
			if p.ring.Len() <= p.low {
				p.release()
			}
		}
		return false
	}
	return true
}

func (p *Pipeline[J, R]) release() {
	if p.pressed.CompareAndSwap(true, false) {
		p.event("backpressure released", p.ring.Len())
	}
}

// event records a backpressure change in traces, with its inputs.
func (p *Pipeline[J, R]) event(name string, depth int) {
	p.tracing.Event(name,
		attribute.String("cpra.pipeline", p.name), attribute.Int("cpra.queue.depth", depth),
		attribute.Int("cpra.queue.high_water_mark", p.high), attribute.Int("cpra.queue.low_water_mark", p.low),
		attribute.Int("cpra.queue.capacity", p.capacity))
}

// Backpressure reports whether the pipeline is refusing new work. Producers
// may use it to skip offering; it lets go once the depth is at the low mark.
func (p *Pipeline[J, R]) Backpressure() bool {
	if p.pressed.Load() && p.ring.Len() <= p.low {
		p.release()
	}
	return p.pressed.Load()
}

// Results delivers one R per job. It is closed after Close.
func (p *Pipeline[J, R]) Results() <-chan R { return p.results }

// Deferred counts a job the caller offered and the pipeline refused at its
// high water mark: the caller keeps it and offers it again. Count each job
// once, however often it is offered (cpra_backpressure_deferred_total).
func (p *Pipeline[J, R]) Deferred() { p.m.deferred.Inc() }

// Dropped counts jobs the caller gave up on before offering them (for
// reason "shutdown": the agent stopped first), in cpra_queue_dropped_total.
func (p *Pipeline[J, R]) Dropped(reason string, n int) {
	p.m.dropped.WithLabelValues(reason).Add(float64(n))
}

// Stats reports the queue and pool for the metrics collector.
func (p *Pipeline[J, R]) Stats() Stats {
	return Stats{
		Depth: p.ring.Len() + p.urgent.Len(), Capacity: p.capacity + p.urgent.Cap(),
		Workers: p.pool.Cap(), Running: p.pool.Running(),
		Backpressure: p.Backpressure(),
	}
}

// feed moves jobs from the queue into the pool. Submit blocks while every
// worker is busy, which is what leaves work waiting in the bounded queue.
func (p *Pipeline[J, R]) feed() {
	defer close(p.feeder)
	for {
		q, err := queue.DequeueFirst(context.Background(), p.urgent, p.ring)
		if err != nil {
			return // closed and drained
		}
		p.m.dequeued.Inc()
		if p.pressed.Load() && p.ring.Len() <= p.low {
			p.release() // let go now, not only at the next offer
		}
		if p.discard.Load() {
			p.meter.leave(p.clock.Now())
			p.m.dropped.WithLabelValues("shutdown").Inc()
			continue
		}
		p.inflight.Add(1)
		if err := p.pool.Submit(func() { p.run(q) }); err != nil {
			// Only a released pool refuses work, and Close releases it
			// after this loop ends: count it rather than lose it silently.
			p.inflight.Done()
			p.meter.leave(p.clock.Now())
			p.m.dropped.WithLabelValues("pool_closed").Inc()
		}
	}
}

// run works one job on a pool worker. The queue wait ends when a worker
// starts it: time spent waiting for a free worker is queueing too.
func (p *Pipeline[J, R]) run(q queued[J]) {
	defer p.inflight.Done()
	start := p.clock.Now()
	p.m.wait.Observe(start.Sub(q.at).Seconds())
	r := p.work(p.shards[p.nextShard.Add(1)%ctxShards], q.job)
	var local time.Duration
	if p.localTime != nil {
		local = p.localTime(r)
	}
	p.meter.complete(q.at, start, p.clock.Now(), local)
	p.results <- r
}

// Close stops accepting work. With drain, queued jobs still run; without,
// they are dropped (counted with reason "shutdown"). Running jobs are
// allowed to finish until ctx ends; then their context is cancelled. Close
// closes Results last, so keep reading Results while it runs.
func (p *Pipeline[J, R]) Close(ctx context.Context, drain bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.discard.Store(!drain)
	p.ring.Close()
	p.urgent.Close()
	p.mu.Unlock()
	close(p.sizer)
	<-p.sized

	done := make(chan struct{})
	go func() {
		<-p.feeder
		p.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done // cancelled work returns promptly
		err = fmt.Errorf("pipeline %s: drain cut short: %w", p.name, ctx.Err())
	}
	p.cancel()
	for _, cancel := range p.shardCancel {
		cancel()
	}
	if rerr := p.pool.ReleaseTimeout(time.Second); rerr != nil && !errors.Is(rerr, ants.ErrPoolClosed) {
		err = errors.Join(err, rerr)
	}
	close(p.results)
	return err
}
