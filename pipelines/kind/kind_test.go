package kind

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two instances of a kind registering the same family share it.
func TestRegisterShares(t *testing.T) {
	d := Deps{}.WithDefaults()
	opts := prometheus.CounterOpts{Name: "cpra_test_things_total", Help: "Things."}
	a, err := Register(d.Registerer, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Register(d.Registerer, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	a.Inc()
	b.Inc()
	if got := testutil.ToFloat64(a); got != 2 {
		t.Fatalf("counter = %v, want both instances' increments on one series", got)
	}
	if _, err := Register(d.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{Name: "cpra_test_things_total", Help: "Other."})); err == nil {
		t.Fatal("a different collector under the same name was accepted")
	}
}
