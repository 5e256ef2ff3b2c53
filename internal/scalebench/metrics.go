package scalebench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one read of the agent's /metrics, reduced to what the report
// needs.
type Scrape struct {
	Checks       float64            // cpra_checks_total, every type and result
	Failures     float64            // cpra_checks_total{result="failure"}
	Inconclusive float64            // cpra_checks_inconclusive_total
	LagCount     float64            // cpra_schedule_lag_seconds_count
	LagSum       float64            // cpra_schedule_lag_seconds_sum
	LagBuckets   []bucket           // cumulative, by upper bound
	States       map[string]float64 // cpra_monitors{state}
	Workers      float64            // cpra_pool_workers{pipeline="pulse"}
	Running      float64            // cpra_pool_running{pipeline="pulse"}
	Rejected     float64            // cpra_breaker_rejected_total{pipeline="pulse"}
	Deferred     float64            // cpra_backpressure_deferred_total{pipeline="pulse"}
	Codes        float64            // cpra_codes_dispatched_total
	HeapInuse    float64            // go_memstats_heap_inuse_bytes
	Arrival      float64            // cpra_sizing_arrival_rate{pipeline="pulse"}
	ServiceTime  float64            // cpra_sizing_service_time_seconds{pipeline="pulse"}
}

type bucket struct {
	le    float64
	count float64
}

// ScrapeAgent reads url (an agent's /metrics).
func ScrapeAgent(ctx context.Context, c *http.Client, url string) (Scrape, error) {
	s := Scrape{States: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, fmt.Errorf("parse %s: %w", url, err)
	}
	each := func(name string, f func(m *dto.Metric, labels map[string]string)) {
		fam := fams[name]
		if fam == nil {
			return
		}
		for _, m := range fam.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			f(m, labels)
		}
	}
	value := func(m *dto.Metric) float64 {
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
		return math.NaN()
	}
	each("cpra_checks_total", func(m *dto.Metric, l map[string]string) {
		s.Checks += value(m)
		if l["result"] == "failure" {
			s.Failures += value(m)
		}
	})
	each("cpra_checks_inconclusive_total", func(m *dto.Metric, _ map[string]string) { s.Inconclusive += value(m) })
	each("cpra_schedule_lag_seconds", func(m *dto.Metric, _ map[string]string) {
		h := m.Histogram
		s.LagCount, s.LagSum = float64(h.GetSampleCount()), h.GetSampleSum()
		for _, b := range h.Bucket {
			s.LagBuckets = append(s.LagBuckets, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
		}
	})
	each("cpra_monitors", func(m *dto.Metric, l map[string]string) { s.States[l["state"]] = value(m) })
	pulse := func(name string, into *float64) {
		each(name, func(m *dto.Metric, l map[string]string) {
			if l["pipeline"] == "pulse" {
				*into += value(m)
			}
		})
	}
	pulse("cpra_pool_workers", &s.Workers)
	pulse("cpra_pool_running", &s.Running)
	pulse("cpra_breaker_rejected_total", &s.Rejected)
	pulse("cpra_backpressure_deferred_total", &s.Deferred)
	pulse("cpra_sizing_arrival_rate", &s.Arrival)
	pulse("cpra_sizing_service_time_seconds", &s.ServiceTime)
	each("cpra_codes_dispatched_total", func(m *dto.Metric, _ map[string]string) { s.Codes += value(m) })
	each("go_memstats_heap_inuse_bytes", func(m *dto.Metric, _ map[string]string) { s.HeapInuse = value(m) })
	return s, nil
}

// lagQuantile estimates quantile q of the schedule lag observed between two
// scrapes, interpolating linearly within a bucket as histogram_quantile
// does. It returns NaN without observations.
func lagQuantile(from, to Scrape, q float64) float64 {
	n := to.LagCount - from.LagCount
	if n <= 0 || len(to.LagBuckets) == 0 {
		return math.NaN()
	}
	prev := map[float64]float64{}
	for _, b := range from.LagBuckets {
		prev[b.le] = b.count
	}
	bs := append([]bucket(nil), to.LagBuckets...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	rank := q * n
	lower, below := 0.0, 0.0
	for _, b := range bs {
		c := b.count - prev[b.le]
		if c >= rank {
			if math.IsInf(b.le, 1) {
				return lower // beyond the largest bound: report it
			}
			inBucket := c - below
			if inBucket <= 0 {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/inBucket
		}
		lower, below = b.le, c
	}
	return lower
}
