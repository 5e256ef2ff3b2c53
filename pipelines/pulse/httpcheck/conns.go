package httpcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connMetrics count the http check's connections, over every prober (one
// connection pool each) of the agent: no per-pool or per-host label, so
// the series stay a handful whatever the fleet. They also keep the
// connections within the open-files budget (hostconns.Config.Budget), in
// use or idle together, so that the descriptors the agent reserves for its
// web endpoints, state directory and notifiers stay free.
type connMetrics struct {
	open   *openConns
	dialed prometheus.Counter
	budget int64 // 0: no bound
	log    *slog.Logger
}

// openConns is the number of open connections, counted where Prometheus
// and the dialler both read it.
type openConns struct {
	prometheus.Collector // a gauge reading n
	n                    atomic.Int64
	lastWarning          atomic.Int64 // unix ns of the last budget warning
}

// registerConnMetrics registers the families on reg once and returns them;
// every prober built on reg shares them.
func registerConnMetrics(reg prometheus.Registerer, budget int, log *slog.Logger) (*connMetrics, error) {
	open := &openConns{}
	open.Collector = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpra_http_connections_open",
		Help: "Connections the http check's connection pools hold open, in use or idle.",
	}, func() float64 { return float64(open.n.Load()) })
	dialed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpra_http_connections_dialed_total",
		Help: "Connections the http check opened; checks beyond these reused an idle connection.",
	})
	m := &connMetrics{budget: int64(budget), log: log}
	var err error
	if m.open, err = registerOnce(reg, open); err != nil {
		return nil, err
	}
	if m.dialed, err = registerOnce(reg, dialed); err != nil {
		return nil, err
	}
	return m, nil
}

func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// errBudget is a dial refused because the open-files budget is used up: an
// EMFILE of the agent's own making, so the check is inconclusive
// (pulse.OutOfFiles), never a failure of the target.
type errBudget struct{ budget int64 }

func (e errBudget) Error() string {
	return fmt.Sprintf("the http check's connections use the whole open-files budget (%d): %v", e.budget, syscall.EMFILE)
}
func (e errBudget) Unwrap() error { return syscall.EMFILE }

// dial wraps a dialler so that the connections it makes are counted while
// open, and refuses to open one past the budget.
func (m *connMetrics) dial(d dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if m.budget > 0 && m.open.n.Load() >= m.budget {
			m.warn()
			return nil, errBudget{m.budget}
		}
		c, err := d(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		m.dialed.Inc()
		m.open.n.Add(1)
		return &countedConn{Conn: c, open: &m.open.n}, nil
	}
}

// crowded reports whether a connection done with should be closed rather
// than kept idle: the connections open fill three quarters of the budget,
// and the rest is kept for checks that need a new one.
func (m *connMetrics) crowded() bool {
	return m.budget > 0 && m.open.n.Load() > m.budget*3/4
}

// warn logs, at most once a minute, that checks are held back by the
// open-files limit.
func (m *connMetrics) warn() {
	now := time.Now().UnixNano()
	last := m.open.lastWarning.Load()
	if now-last < int64(time.Minute) || !m.open.lastWarning.CompareAndSwap(last, now) || m.log == nil {
		return
	}
	m.log.Warn("http checks held back by the open-files limit: inconclusive until connections close; raise ulimit -n (RLIMIT_NOFILE)",
		"open_connections", m.open.n.Load(), "budget", m.budget)
}

// countedConn decrements the open count once, at its first Close.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}
