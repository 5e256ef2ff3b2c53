package sizing

import (
	"math"
	"testing"
	"time"
)

// predicted is an independent check of the predicted wait at c using the
// exported formulas (full Erlang C evaluation rather than the recurrence walk).
func predicted(in Input, c int) float64 {
	mu := 1 / in.MeanService.Seconds()
	f := AllenCunneen(in.CA2, in.CS2)
	if in.Quantile == 0 {
		return f * MeanWait(c, in.Lambda, mu)
	}
	return f * WaitQuantile(c, in.Lambda, mu, in.Quantile)
}

func TestRecommendMinimal(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"mm small", Input{Lambda: 8, MeanService: time.Second, CA2: 1, CS2: 1, SLO: 500 * time.Millisecond, Quantile: 0.95}},
		{"mean SLO", Input{Lambda: 8, MeanService: time.Second, CA2: 1, CS2: 1, SLO: 100 * time.Millisecond}},
		{"bursty", Input{Lambda: 200, MeanService: 50 * time.Millisecond, CA2: 3, CS2: 2, SLO: 20 * time.Millisecond, Quantile: 0.99}},
		{"smooth", Input{Lambda: 200, MeanService: 50 * time.Millisecond, CA2: 0.2, CS2: 0, SLO: 5 * time.Millisecond, Quantile: 0.9}},
		{"zero SLO", Input{Lambda: 50, MeanService: time.Second, CA2: 1, CS2: 1, SLO: 0, Quantile: 0.95}},
		{"loose SLO", Input{Lambda: 50, MeanService: time.Second, CA2: 1, CS2: 1, SLO: time.Hour, Quantile: 0.95}},
		{"large", Input{Lambda: 9_000, MeanService: 10 * time.Second, CA2: 1, CS2: 1.5, SLO: 10 * time.Millisecond, Quantile: 0.95}},
		{"fractional load", Input{Lambda: 0.3, MeanService: time.Second, CA2: 1, CS2: 1, SLO: time.Second, Quantile: 0.95}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Recommend(tt.in)
			if d.Err != nil || !d.SLOMet {
				t.Fatalf("Recommend: %+v", d)
			}
			slo := tt.in.SLO.Seconds()
			if w := predicted(tt.in, d.Required); w > slo {
				t.Errorf("c=%d: predicted %g > SLO %g", d.Required, w, slo)
			}
			// c−1 must miss the SLO, or be unstable (c−1 ≤ a).
			if prev := d.Required - 1; float64(prev) > d.Offered {
				if w := predicted(tt.in, prev); w <= slo {
					t.Errorf("c−1=%d already meets SLO: predicted %g ≤ %g", prev, w, slo)
				}
			}
			if d.Required < int(math.Floor(d.Offered))+1 {
				t.Errorf("Required %d not above offered load %g", d.Required, d.Offered)
			}
			t.Logf("a=%.2f required=%d ρ=%.3f mean=%v q=%v", d.Offered, d.Required, d.Utilisation, d.WaitMean, d.WaitQuantile)
		})
	}
}

func TestRecommendHeadroomClamp(t *testing.T) {
	base := Input{Lambda: 90, MeanService: time.Second, CA2: 1, CS2: 1, SLO: time.Hour, Quantile: 0.95}
	req := Recommend(base).Required // loose SLO: the smallest stable size, 91
	if req != 91 {
		t.Fatalf("Required = %d, want 91", req)
	}
	tests := []struct {
		name     string
		headroom float64
		min, max int
		want     int
		met      bool
	}{
		{"no headroom", 0, 0, 0, 91, true},
		{"10%", 0.10, 0, 0, 101, true}, // ceil(100.1)
		{"15%", 0.15, 0, 0, 105, true}, // ceil(104.65)
		{"max", 0.15, 0, 100, 100, true},
		{"min", 0.15, 200, 0, 200, true},
		{"max below load", 0, 0, 50, 50, false},
	}
	for _, tt := range tests {
		in := base
		in.Headroom, in.Min, in.Max = tt.headroom, tt.min, tt.max
		d := Recommend(in)
		if d.Desired != tt.want || d.SLOMet != tt.met {
			t.Errorf("%s: Desired=%d SLOMet=%v, want %d %v", tt.name, d.Desired, d.SLOMet, tt.want, tt.met)
		}
	}
	// Float noise must not add a server: 100·1.1 = 110.00000000000001.
	if got := withHeadroom(100, 0.1); got != 110 {
		t.Errorf("withHeadroom(100, 0.1) = %d, want 110", got)
	}
}

func TestScaleDirection(t *testing.T) {
	tests := []struct {
		current, desired int
		frac             float64
		want             Direction
	}{
		{10, 12, 0.1, Up},
		{10, 10, 0.1, Hold},
		{10, 9, 0.1, Hold}, // 10% down: not more than 10%
		{10, 8, 0.1, Down}, // 20% down
		{100, 91, 0.1, Hold},
		{100, 89, 0.1, Down},
		{10, 9, 0, Down}, // no hysteresis
		{0, 1, 0.1, Up},
		{0, 0, 0.1, Hold},
	}
	for _, tt := range tests {
		if got := ScaleDirection(tt.current, tt.desired, tt.frac); got != tt.want {
			t.Errorf("ScaleDirection(%d, %d, %g) = %q, want %q", tt.current, tt.desired, tt.frac, got, tt.want)
		}
	}
}

func TestRecommendHysteresis(t *testing.T) {
	in := Input{Lambda: 90, MeanService: time.Second, CA2: 1, CS2: 1, SLO: time.Hour, Quantile: 0.95, DownHysteresis: 0.1}
	// Desired is 91.
	for _, tt := range []struct {
		current, max int
		dir          Direction
		target       int
	}{
		{80, 0, Up, 91},
		{95, 0, Hold, 95},  // 4% above: keep
		{120, 0, Down, 91}, // 24% above: shrink
		{120, 100, Down, 91},
		{98, 95, Down, 91}, // above Max: hysteresis does not apply
	} {
		in.Current, in.Max = tt.current, tt.max
		d := Recommend(in)
		if d.Direction != tt.dir || d.Target != tt.target {
			t.Errorf("current=%d max=%d: %s→%d, want %s→%d", tt.current, tt.max, d.Direction, d.Target, tt.dir, tt.target)
		}
		if want := 90 / float64(d.Target); math.Abs(d.Utilisation-want) > 1e-12 {
			t.Errorf("Utilisation = %g, want %g", d.Utilisation, want)
		}
	}
}

func TestRecommendEdges(t *testing.T) {
	d := Recommend(Input{Lambda: 0, MeanService: time.Second, Quantile: 0.95, Min: 2, Current: 5})
	if d.Required != 0 || d.Desired != 2 || d.Direction != Down || d.WaitMean != 0 || d.Utilisation != 0 {
		t.Errorf("no load: %+v", d)
	}
	d = Recommend(Input{Lambda: 10, MeanService: time.Second, Quantile: 1, Current: 3})
	if d.Err == nil || d.Target != 3 || d.Direction != Hold {
		t.Errorf("invalid quantile: %+v", d)
	}
	// Held below the load: the prediction reports an unstable queue.
	d = Recommend(Input{Lambda: 10, MeanService: time.Second, CA2: 1, CS2: 1, Quantile: 0.95, SLO: time.Hour, Max: 5, Current: 5})
	if d.SLOMet || d.Target != 5 || d.WaitMean != time.Duration(math.MaxInt64) || d.Utilisation != 2 {
		t.Errorf("overloaded: %+v", d)
	}
}

func BenchmarkRecommend_c100k(b *testing.B) {
	in := Input{
		Lambda: 9_000, MeanService: 10 * time.Second, // a = 90,000
		CA2: 1.2, CS2: 1.5, SLO: 5 * time.Millisecond, Quantile: 0.95,
		Headroom: 0.15, Max: 200_000, Current: 100_000, DownHysteresis: 0.1,
	}
	var d Decision
	for b.Loop() {
		d = Recommend(in)
	}
	b.ReportMetric(float64(d.Required), "servers")
}

func BenchmarkErlangC_c100k(b *testing.B) {
	for b.Loop() {
		ErlangC(100_000, 99_000)
	}
}
