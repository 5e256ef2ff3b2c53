package world

import (
	"fmt"
	"testing"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// HostMonitors counts a host's enabled monitors and their red receivers
// once each, and follows the configuration: the index built for one
// version is rebuilt for the next.
func TestHostMonitors(t *testing.T) {
	at := func(host string) func(*config.Monitor) {
		return func(m *config.Monitor) { m.Pulse.Address = "http://" + host + ":8080/" + m.Name }
	}
	disabled := func(m *config.Monitor) { m.Enabled = false }
	toLog := func(m *config.Monitor) {
		m.Codes[domain.Red] = config.Route{Configured: true, Dispatch: true, Notifier: logKey}
	}
	ms := []config.Monitor{
		monitor("a1", at("10.0.0.1")), monitor("a2", at("10.0.0.1")), monitor("a3", at("10.0.0.1"), toLog),
		monitor("a4", at("10.0.0.1"), disabled), monitor("b1", at("10.0.0.2")),
	}
	ms[2].ProfileKey = spec.NewFingerprint().String("red to log").Key() // a profile of its own
	w := newWorld(t, ms...)
	n, targets := w.HostMonitors("10.0.0.1")
	if n != 3 || len(targets) != 2 {
		t.Fatalf("10.0.0.1: %d monitors, receivers %v; want the 3 enabled ones and am, log once each", n, targets)
	}
	if n, _ := w.HostMonitors("10.0.0.9"); n != 0 {
		t.Errorf("a host with no monitor: %d", n)
	}

	var fx Effects
	w.Apply(append(ms[:1:1], monitor("b2", at("10.0.0.2"))), t0.Add(time.Second), &fx)
	if n, _ := w.HostMonitors("10.0.0.1"); n != 1 {
		t.Errorf("after a reload that kept one monitor of 10.0.0.1: %d", n)
	}
	if n, _ := w.HostMonitors("10.0.0.2"); n != 1 {
		t.Errorf("after a reload that replaced b1 with b2 on 10.0.0.2: %d", n)
	}
}

// BenchmarkHostMonitors_1M: a partition opens the breakers of 1,000
// hosts of a million monitors (each on a host of its own, the index's
// worst case): the first opening builds the index, the others search it.
func BenchmarkHostMonitors_1M(b *testing.B) {
	w := benchWorld(b, 1_000_000, time.Unix(1_800_000_000, 0))
	hosts := make([]string, 1000)
	for i := range hosts {
		j := i * 997
		hosts[i] = fmt.Sprintf("10.%d.%d.%d", j>>16&255, j>>8&255, j&255)
	}
	b.ResetTimer()
	for range b.N {
		w.hosts.built = false // each round: as after a new configuration, the index is rebuilt
		began := time.Now()
		if m, _ := w.HostMonitors(hosts[0]); m != 1 {
			b.Fatalf("host %s: %d monitors, want 1", hosts[0], m)
		}
		first := time.Since(began)
		for _, h := range hosts[1:] {
			w.HostMonitors(h)
		}
		b.ReportMetric(first.Seconds(), "first-opening-s")
		b.ReportMetric(float64(time.Since(began)-first)/float64(len(hosts)-1), "ns/later-opening")
	}
	b.StopTimer()
	// What every opening cost before the index: a walk of every monitor.
	began := time.Now()
	if m := walkHost(w, hosts[1]); m != 1 {
		b.Fatalf("walk: %d monitors", m)
	}
	b.ReportMetric(time.Since(began).Seconds(), "walk-per-opening-s")
}

// walkHost counts a host's monitors as HostMonitors did before the index.
func walkHost(w *World, host string) (n int) {
	w.names.each(func(e ecs.Entity) {
		id, _ := w.monitors.Get(e)
		if w.profile(id).Enabled && pulse.HostOf(w.address(id)) == host {
			n++
		}
	})
	return n
}
