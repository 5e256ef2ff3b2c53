package sizing

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAlphaForHalfLife(t *testing.T) {
	a := AlphaForHalfLife(100)
	if got := math.Pow(1-a, 100); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("(1−α)^100 = %g, want 0.5", got)
	}
}

func TestEstimatorDefaults(t *testing.T) {
	e := NewEstimator(0.01)
	s := e.Snapshot()
	if s.Lambda != 0 || s.MeanService != 0 || s.CA2 != 1 || s.CS2 != 1 {
		t.Fatalf("empty snapshot: %+v", s)
	}
	t0 := time.Unix(0, 0)
	e.ObserveArrival(t0)
	e.ObserveArrival(t0.Add(100 * time.Millisecond))
	e.ObserveService(20 * time.Millisecond)
	e.ObserveService(-time.Second) // dropped
	s = e.Snapshot()
	// One sample each: plain averages, and cs², ca² still at the default.
	if s.Lambda != 10 || s.MeanService != 20*time.Millisecond || s.CA2 != 1 || s.CS2 != 1 || s.Interarrivals != 1 || s.Services != 1 {
		t.Fatalf("few samples: %+v", s)
	}
}

func TestEstimatorOutOfOrderArrivalsKeepTheRate(t *testing.T) {
	// Due times of one scheduler tick, out of order: 100 arrivals over
	// one second are 100/s whatever their order within each tick.
	e := NewEstimator(AlphaForHalfLife(1000))
	t0 := time.Unix(0, 0)
	for tick := range 10 {
		base := t0.Add(time.Duration(tick) * 100 * time.Millisecond)
		for _, ms := range []int{9, 3, 7, 1, 5, 8, 2, 6, 0, 4} {
			e.ObserveArrival(base.Add(time.Duration(ms) * 10 * time.Millisecond))
		}
	}
	if l := e.Snapshot().Lambda; l < 90 || l > 115 {
		t.Fatalf("lambda = %v, want about 100", l)
	}
}

func TestEstimatorConverges(t *testing.T) {
	const n = 50_000
	tests := []struct {
		name       string
		lambda     float64       // arrivals/s
		meanS      time.Duration // mean service
		ca2, cs2   float64
		arrival    func(r *rand.Rand) float64 // inter-arrival, seconds
		service    func(r *rand.Rand) float64 // service, seconds
		tolL, tolV float64                    // relative tolerance for rates/means, absolute for SCVs
	}{
		{"poisson/exponential", 50, 20 * time.Millisecond, 1, 1,
			func(r *rand.Rand) float64 { return r.ExpFloat64() / 50 },
			func(r *rand.Rand) float64 { return r.ExpFloat64() * 0.02 }, 0.05, 0.15},
		{"periodic/deterministic", 100, 5 * time.Millisecond, 0, 0,
			func(r *rand.Rand) float64 { return 0.01 },
			func(r *rand.Rand) float64 { return 0.005 }, 1e-6, 1e-6},
		{"erlang-2/uniform", 20, 30 * time.Millisecond, 0.5, 1.0 / 3,
			func(r *rand.Rand) float64 { return (r.ExpFloat64() + r.ExpFloat64()) / 40 },
			func(r *rand.Rand) float64 { return r.Float64() * 0.06 }, 0.05, 0.08},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(i)))
			e := NewEstimator(AlphaForHalfLife(1000))
			now := time.Unix(1_700_000_000, 0)
			for range n {
				now = now.Add(time.Duration(tt.arrival(r) * 1e9))
				e.ObserveArrival(now)
				e.ObserveService(time.Duration(tt.service(r) * 1e9))
			}
			s := e.Snapshot()
			t.Logf("%+v", s)
			if relErr(s.Lambda, tt.lambda) > tt.tolL {
				t.Errorf("Lambda = %g, want %g", s.Lambda, tt.lambda)
			}
			if relErr(s.MeanService.Seconds(), tt.meanS.Seconds()) > tt.tolL {
				t.Errorf("MeanService = %v, want %v", s.MeanService, tt.meanS)
			}
			if math.Abs(s.CA2-tt.ca2) > tt.tolV {
				t.Errorf("CA2 = %g, want %g", s.CA2, tt.ca2)
			}
			if math.Abs(s.CS2-tt.cs2) > tt.tolV {
				t.Errorf("CS2 = %g, want %g", s.CS2, tt.cs2)
			}
		})
	}
}

func TestEstimatorTracksChange(t *testing.T) {
	// After a rate change the estimate follows within a few half-lives.
	e := NewEstimator(AlphaForHalfLife(100))
	now := time.Unix(0, 0)
	for range 2_000 {
		now = now.Add(100 * time.Millisecond)
		e.ObserveArrival(now)
	}
	for range 1_000 { // 10 half-lives at the new rate
		now = now.Add(10 * time.Millisecond)
		e.ObserveArrival(now)
	}
	if got := e.Snapshot().Lambda; relErr(got, 100) > 0.01 {
		t.Errorf("Lambda after change = %g, want ≈100", got)
	}
}

func TestSnapshotInput(t *testing.T) {
	s := Snapshot{Lambda: 5, MeanService: time.Second, CA2: 2, CS2: 3}
	in := s.Input(Input{SLO: time.Second, Quantile: 0.9, Max: 7})
	if in.Lambda != 5 || in.MeanService != time.Second || in.CA2 != 2 || in.CS2 != 3 || in.SLO != time.Second || in.Max != 7 {
		t.Errorf("Input = %+v", in)
	}
}
