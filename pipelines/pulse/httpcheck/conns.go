package httpcheck

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// connMetrics count the http check's connections, over every prober (one
// connection pool each) of the agent: no per-pool or per-host label, so
// the series stay a handful whatever the fleet.
type connMetrics struct {
	open   prometheus.Gauge
	dialed prometheus.Counter
}

// registerConnMetrics registers the families on reg once and returns them;
// every prober built on reg shares them.
func registerConnMetrics(reg prometheus.Registerer) (*connMetrics, error) {
	open := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cpra_http_connections_open",
		Help: "Connections the http check's connection pools hold open, in use or idle.",
	})
	dialed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpra_http_connections_dialed_total",
		Help: "Connections the http check opened; checks beyond these reused an idle connection.",
	})
	m := &connMetrics{}
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

// dial wraps a dialler so that the connections it makes are counted while
// open.
func (m *connMetrics) dial(d dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		m.dialed.Inc()
		m.open.Inc()
		return &countedConn{Conn: c, open: m.open}, nil
	}
}

// countedConn decrements the open gauge once, at its first Close.
type countedConn struct {
	net.Conn
	open prometheus.Gauge
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.open.Dec)
	return c.Conn.Close()
}
