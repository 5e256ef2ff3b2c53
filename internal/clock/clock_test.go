package clock

import (
	"testing"
	"time"
)

func TestFakeTimers(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	f := NewFake(t0)
	tm := f.NewTimer()
	if len(f.Armed()) != 0 {
		t.Fatal("a new timer is set")
	}
	tm.Reset(t0.Add(time.Second))
	fired := func() bool {
		select {
		case <-tm.C():
			return true
		default:
			return false
		}
	}
	f.Advance(999 * time.Millisecond)
	if fired() {
		t.Fatal("fired before its deadline")
	}
	if armed := f.Armed(); len(armed) != 1 || !armed[0].Equal(t0.Add(time.Second)) {
		t.Fatalf("armed %v, want the deadline", armed)
	}
	f.Advance(time.Millisecond)
	if !fired() || len(f.Armed()) != 0 {
		t.Fatal("did not fire at its deadline, or stayed armed")
	}
	tm.Reset(t0)
	if !fired() {
		t.Fatal("a deadline in the past did not fire at once")
	}
	tm.Reset(f.Now().Add(time.Minute))
	tm.Stop()
	f.Advance(time.Hour)
	if fired() {
		t.Fatal("a stopped timer fired")
	}
	if !f.Now().Equal(t0.Add(time.Hour + time.Second)) {
		t.Fatalf("Now = %v", f.Now())
	}
}
