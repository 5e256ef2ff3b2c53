package owner

import (
	"fmt"
	"testing"
	"time"
)

// TestTriggersRenewAndEvict: a re-sent alert renews its memory (an alert
// that stays firing never asks twice), and a full memory forgets the alert
// heard of least recently instead of refusing new ones.
func TestTriggersRenewAndEvict(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tr := alertTriggers{}
	tr.remember("a", t0)
	for h := range 48 { // re-sent every hour for two days
		if !tr.seen("a", t0.Add(time.Duration(h)*time.Hour)) {
			t.Fatalf("a re-sent alert asked again after %dh", h)
		}
	}
	full := alertTriggers{}
	for i := range maxTriggers {
		full.remember(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Nanosecond))
	}
	full.remember("new", t0.Add(time.Second))
	if len(full) != maxTriggers || !full.seen("new", t0.Add(time.Second)) || full.seen("0", t0.Add(time.Second)) {
		t.Fatalf("a full memory did not make room by forgetting the oldest (size %d)", len(full))
	}
}
