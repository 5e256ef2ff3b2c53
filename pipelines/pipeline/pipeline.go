package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/telemetry"
)

// Config sizes a pipeline.
type Config struct {
	Name          string // pulse, intervention or code: the `pipeline` label
	QueueCapacity int
	Workers       int
	ResultBuffer  int // capacity of the result channel; default QueueCapacity
}

// Work runs one job. It must honour ctx, which is cancelled when the
// pipeline is closed without draining.
type Work[J, R any] func(ctx context.Context, job J) R

type queued[J any] struct {
	job J
	at  time.Time
}

// Pipeline is a bounded queue worked by a goroutine pool.
type Pipeline[J, R any] struct {
	name    string
	work    Work[J, R]
	queue   chan queued[J]
	results chan R
	pool    *ants.Pool

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool

	inflight sync.WaitGroup
	feeder   chan struct{} // closed when the feeding goroutine exits

	enqueued, dequeued prometheus.Counter
	wait               prometheus.Observer
	dropped            *prometheus.CounterVec
}

// New starts a pipeline. Its queue and pool gauges are registered on m.
func New[J, R any](cfg Config, work Work[J, R], m *telemetry.Metrics) (*Pipeline[J, R], error) {
	if cfg.QueueCapacity < 1 || cfg.Workers < 1 {
		return nil, fmt.Errorf("pipeline %s: queue capacity and workers must be at least 1", cfg.Name)
	}
	if cfg.ResultBuffer < 1 {
		cfg.ResultBuffer = cfg.QueueCapacity
	}
	pool, err := ants.NewPool(cfg.Workers)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline[J, R]{
		name:     cfg.Name,
		work:     work,
		queue:    make(chan queued[J], cfg.QueueCapacity),
		results:  make(chan R, cfg.ResultBuffer),
		pool:     pool,
		ctx:      ctx,
		cancel:   cancel,
		feeder:   make(chan struct{}),
		enqueued: m.QueueEnqueued.WithLabelValues(cfg.Name),
		dequeued: m.QueueDequeued.WithLabelValues(cfg.Name),
		wait:     m.QueueWait.WithLabelValues(cfg.Name),
		dropped:  m.QueueDropped.MustCurryWith(prometheus.Labels{"pipeline": cfg.Name}),
	}
	m.RegisterPipeline(cfg.Name, p.Stats)
	go p.feed()
	return p, nil
}

// TrySubmit queues job without blocking. It returns false when the queue is
// full or the pipeline is closing; the caller keeps the job and tries again.
func (p *Pipeline[J, R]) TrySubmit(job J) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.queue <- queued[J]{job: job, at: time.Now()}:
		p.enqueued.Inc()
		return true
	default:
		return false
	}
}

// Results delivers one R per job. It is closed after Close.
func (p *Pipeline[J, R]) Results() <-chan R { return p.results }

// Free is the room left in the queue.
func (p *Pipeline[J, R]) Free() int { return cap(p.queue) - len(p.queue) }

// Stats reports the queue and pool for the metrics collector.
func (p *Pipeline[J, R]) Stats() telemetry.PipelineStats {
	return telemetry.PipelineStats{
		Depth: len(p.queue), Capacity: cap(p.queue),
		Workers: p.pool.Cap(), Running: p.pool.Running(),
	}
}

// feed moves jobs from the queue into the pool. Submit blocks while every
// worker is busy, which is what leaves work waiting in the bounded queue.
func (p *Pipeline[J, R]) feed() {
	defer close(p.feeder)
	for q := range p.queue {
		p.dequeued.Inc()
		p.wait.Observe(time.Since(q.at).Seconds())
		p.inflight.Add(1)
		job := q.job
		if err := p.pool.Submit(func() {
			defer p.inflight.Done()
			p.results <- p.work(p.ctx, job)
		}); err != nil {
			// Only a released pool refuses work, and Close releases it
			// after this loop ends: count it rather than lose it silently.
			p.inflight.Done()
			p.dropped.WithLabelValues("pool_closed").Inc()
		}
	}
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
	if !drain {
		n := 0
		for {
			select {
			case <-p.queue:
				n++
				continue
			default:
			}
			break
		}
		p.dropped.WithLabelValues("shutdown").Add(float64(n))
	}
	close(p.queue)
	p.mu.Unlock()

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
	if rerr := p.pool.ReleaseTimeout(time.Second); rerr != nil && !errors.Is(rerr, ants.ErrPoolClosed) {
		err = errors.Join(err, rerr)
	}
	close(p.results)
	return err
}
