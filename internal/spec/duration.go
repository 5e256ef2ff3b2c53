package spec

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// ParseDuration accepts Go durations ("1m30s", "250ms") and Prometheus ones
// ("1d", "2w"). Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return d, nil
	}
	md, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use a number and a unit: ms, s, m, h, d)", s)
	}
	return time.Duration(md), nil
}
