package sizing

import (
	"math"
	"math/big"
	"testing"
)

// erlangCExact computes Erlang C with exact rational arithmetic from the
// textbook formula: (a^c/c!·c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c!·c/(c−a)).
func erlangCExact(c int, a float64) float64 {
	ar := new(big.Rat).SetFloat64(a)
	term := big.NewRat(1, 1) // a^k/k!
	sum := new(big.Rat)
	for k := 0; k < c; k++ {
		sum.Add(sum, term)
		term.Mul(term, ar)
		term.Quo(term, big.NewRat(int64(k+1), 1))
	}
	cr := big.NewRat(int64(c), 1)
	last := new(big.Rat).Mul(term, new(big.Rat).Quo(cr, new(big.Rat).Sub(cr, ar)))
	f, _ := new(big.Rat).Quo(last, sum.Add(sum, last)).Float64()
	return f
}

// erlangCLog is the same formula in log space (log-sum-exp over lgamma
// terms): independent of the recurrence and finite for very large c.
func erlangCLog(c int, a float64) float64 {
	la := math.Log(a)
	logTerm := func(k int) float64 {
		lg, _ := math.Lgamma(float64(k + 1))
		return float64(k)*la - lg
	}
	last := logTerm(c) + math.Log(float64(c)/(float64(c)-a))
	peak := last
	for k := 0; k < c; k++ {
		peak = math.Max(peak, logTerm(k))
	}
	var sum float64
	for k := 0; k < c; k++ {
		sum += math.Exp(logTerm(k) - peak)
	}
	top := math.Exp(last - peak)
	return top / (sum + top)
}

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

func TestErlangCPublished(t *testing.T) {
	tests := []struct {
		c    int
		a    float64
		want float64 // published / hand-computed
		tol  float64 // absolute, for rounded table values
	}{
		{2, 1, 1.0 / 3, 1e-15}, // textbook: C(2,1) = 1/3
		{1, 0.5, 0.5, 1e-15},   // M/M/1: C = ρ
		{10, 8, 0.4092, 5e-5},  // classic table value
		{11, 10, 0.6821, 5e-5}, // call-centre example: 10 Erlangs, 11 agents
	}
	for _, tt := range tests {
		if got := ErlangC(tt.c, tt.a); math.Abs(got-tt.want) > tt.tol {
			t.Errorf("ErlangC(%d, %g) = %.10f, want %.10f ± %g", tt.c, tt.a, got, tt.want, tt.tol)
		}
	}
}

func TestErlangCExact(t *testing.T) {
	for _, tt := range []struct {
		c int
		a float64
	}{
		{1, 0.3}, {2, 1}, {3, 2.5}, {10, 8}, {11, 10}, {20, 15}, {50, 49.5}, {100, 80}, {200, 199.9}, {300, 150},
	} {
		got, want := ErlangC(tt.c, tt.a), erlangCExact(tt.c, tt.a)
		if relErr(got, want) > 1e-9 {
			t.Errorf("ErlangC(%d, %g) = %.15g, exact %.15g (rel err %.2g)", tt.c, tt.a, got, want, relErr(got, want))
		}
		if lg := erlangCLog(tt.c, tt.a); relErr(lg, want) > 1e-9 {
			t.Errorf("log-space reference broken: %g vs %g", lg, want)
		}
	}
}

func TestErlangCLargeC(t *testing.T) {
	for _, tt := range []struct {
		c int
		a float64
	}{
		{100_000, 99_000}, {100_000, 99_900}, {100_000, 99_999.9}, {100_000, 90_000}, {20_000, 19_800},
	} {
		got := ErlangC(tt.c, tt.a)
		if math.IsNaN(got) || got <= 0 || got >= 1 {
			t.Fatalf("ErlangC(%d, %g) = %g, want in (0, 1)", tt.c, tt.a, got)
		}
		want := erlangCLog(tt.c, tt.a)
		if relErr(got, want) > 1e-6 {
			t.Errorf("ErlangC(%d, %g) = %.12g, log-space %.12g (rel err %.2g)", tt.c, tt.a, got, want, relErr(got, want))
		}
		t.Logf("C(%d, %g) = %.12g (log-space %.12g)", tt.c, tt.a, got, want)
	}
}

func TestErlangCEdges(t *testing.T) {
	for _, tt := range []struct {
		c    int
		a    float64
		want float64
	}{
		{0, 1, 1}, {5, 5, 1}, {5, 7, 1}, {5, 0, 0}, {100_000, 100_000, 1},
	} {
		if got := ErlangC(tt.c, tt.a); got != tt.want {
			t.Errorf("ErlangC(%d, %g) = %g, want %g", tt.c, tt.a, got, tt.want)
		}
	}
	if got := ErlangB(0, 3); got != 1 {
		t.Errorf("ErlangB(0, 3) = %g, want 1", got)
	}
	if got := ErlangB(1, 1); got != 0.5 {
		t.Errorf("ErlangB(1, 1) = %g, want 0.5", got)
	}
}

func TestErlangCMonotone(t *testing.T) {
	for _, a := range []float64{0.5, 8, 95.5, 9_000} {
		prev := 1.0
		for c := int(a) + 1; c < int(a)+1+int(10*math.Sqrt(a))+20; c++ {
			got := ErlangC(c, a)
			if got > prev {
				t.Fatalf("a=%g: C(%d)=%g > C(%d)=%g", a, c, got, c-1, prev)
			}
			prev = got
		}
	}
}

func TestMMcWaits(t *testing.T) {
	// M/M/1 closed forms: Wq = ρ/(μ−λ), P(Wq>t) = ρ·e^{−(μ−λ)t}.
	lambda, mu := 0.8, 1.0
	if got, want := MeanWait(1, lambda, mu), 0.8/0.2; relErr(got, want) > 1e-12 {
		t.Errorf("MeanWait M/M/1 = %g, want %g", got, want)
	}
	q := 0.95
	tq := WaitQuantile(1, lambda, mu, q)
	if got := WaitTail(1, lambda, mu, tq); relErr(got, 1-q) > 1e-9 {
		t.Errorf("tail at quantile = %g, want %g", got, 1-q)
	}
	if got, want := tq, math.Log(0.8/0.05)/0.2; relErr(got, want) > 1e-12 {
		t.Errorf("WaitQuantile = %g, want %g", got, want)
	}
	// C ≤ 1−q: at least q of arrivals do not wait at all.
	if got := WaitQuantile(10, 2, 1, 0.95); got != 0 {
		t.Errorf("WaitQuantile lightly loaded = %g, want 0", got)
	}
	if !math.IsInf(MeanWait(2, 2, 1), 1) || !math.IsInf(WaitQuantile(2, 3, 1, 0.5), 1) {
		t.Error("unstable queue should give +Inf waits")
	}
	if got := AllenCunneen(1, 1); got != 1 {
		t.Errorf("AllenCunneen(1,1) = %g", got)
	}
	if got := AllenCunneen(1, 0); got != 0.5 {
		t.Errorf("AllenCunneen(1,0) = %g", got)
	}
}
