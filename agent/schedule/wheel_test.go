package schedule

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func TestWheelFiresInOrderOfSlots(t *testing.T) {
	w, err := New[int](t0, 10*time.Millisecond, 100)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(1, at(50*time.Millisecond))
	w.Add(2, at(5*time.Millisecond))
	w.Add(3, at(2*time.Second)) // beyond one turn (128 slots × 10ms)
	var got []int
	fire := func(e Entry[int]) bool { got = append(got, e.ID); return true }

	w.Advance(at(0), fire)
	if len(got) != 0 {
		t.Fatalf("nothing is due at start, fired %v", got)
	}
	w.Advance(at(60*time.Millisecond), fire)
	if !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("fired %v, want [2 1]", got)
	}
	w.Advance(at(1500*time.Millisecond), fire)
	if len(got) != 2 {
		t.Fatalf("entry 3 fired a turn early: %v", got)
	}
	w.Advance(at(2*time.Second), fire)
	if !slices.Equal(got, []int{2, 1, 3}) {
		t.Fatalf("fired %v, want [2 1 3]", got)
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d after all fired", w.Len())
	}
}

func TestWheelPastDueFiresNext(t *testing.T) {
	w, _ := New[int](t0, time.Millisecond, 8)
	w.Advance(at(time.Second), func(Entry[int]) bool { return true })
	w.Add(7, at(0)) // long past
	var got []int
	w.Advance(at(time.Second), func(e Entry[int]) bool { got = append(got, e.ID); return true })
	if !slices.Equal(got, []int{7}) {
		t.Fatalf("past-due entry not fired: %v", got)
	}
}

func TestWheelStopKeepsEntriesDue(t *testing.T) {
	w, _ := New[int](t0, 10*time.Millisecond, 64)
	for i := range 10 {
		w.Add(i, at(time.Duration(i)*time.Millisecond))
	}
	budget := 4
	var got []int
	fire := func(e Entry[int]) bool {
		if budget == 0 {
			return false
		}
		budget--
		got = append(got, e.ID)
		return true
	}
	if stopped := w.Advance(at(20*time.Millisecond), fire); !stopped {
		t.Fatal("Advance should report it stopped early")
	}
	if len(got) != 4 || w.Len() != 6 {
		t.Fatalf("fired %v, Len %d; want 4 fired, 6 kept", got, w.Len())
	}
	budget = 100
	if stopped := w.Advance(at(20*time.Millisecond), fire); stopped {
		t.Fatal("second Advance should finish")
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("every entry fires exactly once, got %v", got)
	}
}

// TestWheelRandomMatchesSort checks the wheel against a sorted list: every
// entry fires exactly once, never before its due time and within one tick of
// the Advance that passes it.
func TestWheelRandomMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const tick = 7 * time.Millisecond
	w, _ := New[int](t0, tick, 256)
	due := map[int]int64{}
	for i := range 5000 {
		d := at(time.Duration(rng.Int64N(int64(10 * time.Second))))
		due[i] = d
		w.Add(i, d)
	}
	fired := map[int]bool{}
	for now := at(0); now <= at(11*time.Second); now += int64(13 * time.Millisecond) {
		w.Advance(now, func(e Entry[int]) bool {
			if fired[e.ID] {
				t.Fatalf("entry %d fired twice", e.ID)
			}
			if e.Due > now {
				t.Fatalf("entry %d fired before its due time", e.ID)
			}
			if now-e.Due > int64(13*time.Millisecond)+int64(tick) {
				t.Fatalf("entry %d fired %v late", e.ID, time.Duration(now-e.Due))
			}
			fired[e.ID] = true
			return true
		})
	}
	if len(fired) != len(due) {
		t.Fatalf("fired %d of %d", len(fired), len(due))
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := New[int](t0, 0, 8); err == nil {
		t.Error("zero tick accepted")
	}
	if _, err := New[int](t0, time.Millisecond, 0); err == nil {
		t.Error("zero slots accepted")
	}
}

// TestAdvanceBackwardsInTime: a clock that steps back must neither hang nor
// fire anything early.
func TestAdvanceBackwardsInTime(t *testing.T) {
	w, _ := New[int](t0, 10*time.Millisecond, 64)
	w.Add(1, at(100*time.Millisecond))
	w.Advance(at(50*time.Millisecond), func(Entry[int]) bool { t.Fatal("fired early"); return true })
	w.Advance(at(10*time.Millisecond), func(Entry[int]) bool { t.Fatal("fired early"); return true })
	fired := false
	w.Advance(at(100*time.Millisecond), func(Entry[int]) bool { fired = true; return true })
	if !fired {
		t.Fatal("entry not fired once its time came")
	}
}
