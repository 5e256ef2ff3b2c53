package pulse

import (
	"context"
	"time"
)

// Run probes t with a deadline of timeout and measures the whole check.
func Run(ctx context.Context, p Prober, t Target, timeout time.Duration) (Result, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	r := p.Probe(ctx, t)
	d := time.Since(start)
	if !r.OK && r.Reason == "" {
		r.Reason = "check failed"
	}
	return r, d
}
