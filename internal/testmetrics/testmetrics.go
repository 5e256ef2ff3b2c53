// Package testmetrics reads series from a scrape, for tests that check
// what a collector exposes rather than the Go value behind it.
package testmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Value reads one series from a scrape of g: the family name, then its
// labels as name, value pairs (a subset of the series' labels). A series
// not in the scrape reads 0: a vector with no child yet (a counter never
// incremented) is absent from a scrape altogether. A test that reads a
// family by a wrong name therefore sees 0: assert a value that is not.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range s.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			case s.GetUntyped() != nil:
				return s.GetUntyped().GetValue()
			}
		}
	}
	return 0
}
