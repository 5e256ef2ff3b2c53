package sizing

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// simulate runs a FCFS c-server queue for n customers and returns the
// queueing waits after a warm-up. A customer starts on the server that frees
// first (or on arrival if one is idle), which is exactly FCFS for G/G/c.
func simulate(c, n int, interarrival, service func() float64) []float64 {
	free := make([]float64, c) // time each server next becomes free
	waits := make([]float64, 0, n)
	warmup := n / 20
	var now float64
	for i := range n + warmup {
		now += interarrival()
		j := 0
		for k := 1; k < c; k++ {
			if free[k] < free[j] {
				j = k
			}
		}
		start := math.Max(now, free[j])
		free[j] = start + service()
		if i >= warmup {
			waits = append(waits, start-now)
		}
	}
	return waits
}

func meanOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func quantileOf(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(math.Ceil(q*float64(len(s))))-1]
}

// hyperexp returns a balanced-means two-phase hyperexponential sampler with
// mean 1/mu and squared coefficient of variation scv > 1.
func hyperexp(r *rand.Rand, mu, scv float64) func() float64 {
	p := (1 + math.Sqrt((scv-1)/(scv+1))) / 2
	mu1, mu2 := 2*p*mu, 2*(1-p)*mu
	return func() float64 {
		if r.Float64() < p {
			return r.ExpFloat64() / mu1
		}
		return r.ExpFloat64() / mu2
	}
}

func TestSimulationVsFormula(t *testing.T) {
	// 1M customers: at ρ = 0.8 waits are strongly autocorrelated and
	// 200k customers leave ~±5% sampling noise on the mean, too close to the
	// 5% tolerance. Seeded, so the result is deterministic either way.
	const n = 1_000_000
	const q = 0.95
	tests := []struct {
		name              string
		c                 int
		lambda, mu        float64
		ca2, cs2          float64
		service           func(r *rand.Rand) func() float64
		meanTol, quantTol float64 // relative
	}{
		{"M/M/10 rho=0.8", 10, 8, 1, 1, 1,
			func(r *rand.Rand) func() float64 { return func() float64 { return r.ExpFloat64() } }, 0.05, 0.05},
		{"M/M/2 rho=0.8", 2, 1.6, 1, 1, 1,
			func(r *rand.Rand) func() float64 { return func() float64 { return r.ExpFloat64() } }, 0.05, 0.05},
		{"M/D/10 rho=0.8", 10, 8, 1, 1, 0,
			func(r *rand.Rand) func() float64 { return func() float64 { return 1 } }, 0.15, 0.15},
		{"M/H2/10 rho=0.8 cs2=2", 10, 8, 1, 1, 2,
			func(r *rand.Rand) func() float64 { return hyperexp(r, 1, 2) }, 0.15, 0.15},
		// Known weakness: with very variable service Allen–Cunneen
		// overestimates the mean (by ~15–20% here, seed-dependent); it errs on the side of more
		// servers. Looser tolerance, and the formula must not underestimate.
		{"M/H2/10 rho=0.8 cs2=4", 10, 8, 1, 1, 4,
			func(r *rand.Rand) func() float64 { return hyperexp(r, 1, 4) }, 0.25, 0.15},
		{"H2/M/10 rho=0.8 ca2=2", 10, 8, 1, 2, 1,
			func(r *rand.Rand) func() float64 { return func() float64 { return r.ExpFloat64() } }, 0.15, 0.15},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(42, uint64(i)))
			arr := func() float64 { return r.ExpFloat64() / tt.lambda }
			if tt.ca2 != 1 {
				arr = hyperexp(r, tt.lambda, tt.ca2)
			}
			waits := simulate(tt.c, n, arr, tt.service(r))

			f := AllenCunneen(tt.ca2, tt.cs2)
			wantMean := f * MeanWait(tt.c, tt.lambda, tt.mu)
			wantQ := f * WaitQuantile(tt.c, tt.lambda, tt.mu, q)
			gotMean, gotQ := meanOf(waits), quantileOf(waits, q)
			t.Logf("mean wait: sim %.4f formula %.4f (%+.1f%%); p95: sim %.4f formula %.4f (%+.1f%%)",
				gotMean, wantMean, 100*(wantMean/gotMean-1), gotQ, wantQ, 100*(wantQ/gotQ-1))
			if relErr(wantMean, gotMean) > tt.meanTol {
				t.Errorf("mean wait: formula %g vs simulated %g, tolerance %g", wantMean, gotMean, tt.meanTol)
			}
			if tt.meanTol > 0.15 && wantMean < gotMean {
				t.Errorf("mean wait: formula %g underestimates simulated %g", wantMean, gotMean)
			}
			if relErr(wantQ, gotQ) > tt.quantTol {
				t.Errorf("p95 wait: formula %g vs simulated %g, tolerance %g", wantQ, gotQ, tt.quantTol)
			}
		})
	}
}
