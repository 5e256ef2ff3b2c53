package queue

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
)

func mustNew[T any](t testing.TB, capacity int) *Ring[T] {
	t.Helper()
	r, err := New[T](capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewCapacity(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{1, 2}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}} {
		if got := mustNew[int](t, tc.in).Cap(); got != tc.want {
			t.Errorf("New(%d).Cap() = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, bad := range []int{0, -1, maxCapacity + 1} {
		if _, err := New[int](bad); err == nil {
			t.Errorf("New(%d) succeeded", bad)
		}
	}
}

func TestFIFOSingleThreaded(t *testing.T) {
	r := mustNew[int](t, 8)
	for i := range 8 {
		if !r.TryEnqueue(i) {
			t.Fatalf("enqueue %d failed", i)
		}
	}
	for i := range 8 {
		v, ok := r.TryDequeue()
		if !ok || v != i {
			t.Fatalf("dequeue = %d, %v; want %d, true", v, ok, i)
		}
	}
}

func TestFullAndEmpty(t *testing.T) {
	r := mustNew[int](t, 4)
	if _, ok := r.TryDequeue(); ok {
		t.Fatal("dequeue from empty ring succeeded")
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d on empty", r.Len())
	}
	for i := range 4 {
		if !r.TryEnqueue(i) {
			t.Fatalf("enqueue %d failed", i)
		}
	}
	if r.Len() != 4 {
		t.Fatalf("Len = %d on full, want 4", r.Len())
	}
	if r.TryEnqueue(99) {
		t.Fatal("enqueue into full ring succeeded")
	}
	if v, _ := r.TryDequeue(); v != 0 {
		t.Fatalf("dequeue = %d, want 0", v)
	}
	if !r.TryEnqueue(4) {
		t.Fatal("enqueue after freeing a slot failed")
	}
}

func TestWrapAround(t *testing.T) {
	r := mustNew[int](t, 4)
	next, want := 0, 0
	for round := range 10000 {
		// Fill one, three or all slots, take up to two: the counters cross
		// the wrap at every phase.
		for range 1 + round%3*2 {
			if r.TryEnqueue(next) {
				next++
			}
		}
		if v, ok := r.TryDequeue(); ok {
			if v != want {
				t.Fatalf("round %d: got %d, want %d", round, v, want)
			}
			want++
		}
		if v, ok := r.TryDequeue(); ok {
			if v != want {
				t.Fatalf("round %d: got %d, want %d", round, v, want)
			}
			want++
		}
	}
	for {
		v, ok := r.TryDequeue()
		if !ok {
			break
		}
		if v != want {
			t.Fatalf("drain: got %d, want %d", v, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("received %d items, sent %d", want, next)
	}
}

func TestDequeueZeroesSlots(t *testing.T) {
	r := mustNew[*int](t, 2)
	x := 1
	r.TryEnqueue(&x)
	r.TryEnqueue(&x)
	r.TryDequeue()
	r.TryDequeue()
	for i := range r.slots {
		if r.slots[i].val != nil {
			t.Fatalf("slot %d still references its value", i)
		}
	}
}

// TestMPMCStress checks exactly-once delivery and per-producer order as
// seen by each consumer, parking and not, on a small ring
// so it is often full, often empty and wraps many times.
func TestMPMCStress(t *testing.T) {
	const producers, consumers = 4, 4
	perProducer := 200_000
	if testing.Short() {
		perProducer = 20_000
	}
	r := mustNew[uint64](t, 64)

	var pwg sync.WaitGroup
	for p := range producers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := 0; i < perProducer; {
				if r.TryEnqueue(uint64(p)<<32 | uint64(i)) {
					i++
				} else {
					runtime.Gosched()
				}
			}
		}()
	}

	got := make([][]uint64, consumers)
	errs := make(chan error, consumers)
	var cwg sync.WaitGroup
	for c := range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			var last [producers]int64
			for i := range last {
				last[i] = -1
			}
			check := func(v uint64) bool {
				p, seq := v>>32, int64(v&0xffffffff)
				if seq <= last[p] {
					errs <- errors.New("producer order violated")
					return false
				}
				last[p] = seq
				got[c] = append(got[c], v)
				return true
			}
			for k := 0; ; k++ {
				if k%2 == 0 { // half the time without parking
					if v, ok := r.TryDequeue(); ok {
						if !check(v) {
							return
						}
						continue
					}
				}
				v, err := r.Dequeue(context.Background())
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || !check(v) {
					return
				}
			}
		}()
	}

	pwg.Wait()
	r.Close()
	cwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := make([][]bool, producers)
	for p := range seen {
		seen[p] = make([]bool, perProducer)
	}
	total := 0
	for _, vs := range got {
		for _, v := range vs {
			p, seq := v>>32, v&0xffffffff
			if seen[p][seq] {
				t.Fatalf("item %d/%d received twice", p, seq)
			}
			seen[p][seq] = true
			total++
		}
	}
	if total != producers*perProducer {
		t.Fatalf("received %d items, want %d", total, producers*perProducer)
	}
}

// TestNoLostWakeups parks several consumers on an empty ring again and
// again and releases them with concurrent enqueues. Each consumer takes one
// item per round and then waits for the next round, so every parked
// consumer needs its own wake-up: one that is lost leaves a consumer parked
// with an item in the ring, and the test hangs (caught by go test's
// timeout) instead of finishing. No timing is asserted.
func TestNoLostWakeups(t *testing.T) {
	const consumers = 4
	rounds := 10000
	if testing.Short() {
		rounds = 200
	}
	r := mustNew[int](t, 8)
	acks := make(chan int, consumers)
	next := make([]chan struct{}, consumers)
	var wg sync.WaitGroup
	for c := range consumers {
		next[c] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v, err := r.Dequeue(context.Background())
				if err != nil {
					return
				}
				acks <- v
				<-next[c]
			}
		}()
	}
	for round := range rounds {
		// Sometimes wait until all consumers are registered as waiters;
		// otherwise the enqueues race with consumers on their way to park,
		// which is when a wake token can be dropped and must be passed on.
		for r.waiters.Load() < consumers && round%4 == 0 {
			runtime.Gosched()
		}
		var pwg sync.WaitGroup
		for p := range consumers {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				for !r.TryEnqueue(p) {
					runtime.Gosched()
				}
			}()
		}
		pwg.Wait()
		for range consumers {
			<-acks
		}
		for _, ch := range next {
			ch <- struct{}{}
		}
	}
	r.Close()
	wg.Wait()
}

func TestDequeueWakesOnEnqueue(t *testing.T) {
	r := mustNew[string](t, 4)
	got := make(chan string)
	go func() {
		v, err := r.Dequeue(context.Background())
		if err != nil {
			v = err.Error()
		}
		got <- v
	}()
	for r.waiters.Load() == 0 { // wait until it is parked
		runtime.Gosched()
	}
	r.TryEnqueue("hello")
	if v := <-got; v != "hello" {
		t.Fatalf("got %q", v)
	}
}

func TestCloseSemantics(t *testing.T) {
	r := mustNew[int](t, 4)
	for v := range 3 {
		r.TryEnqueue(v + 1)
	}

	// A parked consumer on another ring returns ErrClosed when it is closed.
	empty := mustNew[int](t, 4)
	errc := make(chan error)
	go func() {
		_, err := empty.Dequeue(context.Background())
		errc <- err
	}()
	for empty.waiters.Load() == 0 {
		runtime.Gosched()
	}
	empty.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("parked consumer got %v, want ErrClosed", err)
	}

	r.Close()
	r.Close() // idempotent
	if r.TryEnqueue(4) {
		t.Fatal("enqueue after Close succeeded")
	}
	// Remaining items drain before ErrClosed.
	if v, err := r.Dequeue(context.Background()); err != nil || v != 1 {
		t.Fatalf("Dequeue = %d, %v; want 1", v, err)
	}
	if v, ok := r.TryDequeue(); !ok || v != 2 {
		t.Fatalf("TryDequeue = %d, %v; want 2", v, ok)
	}
	if v, err := r.Dequeue(context.Background()); err != nil || v != 3 {
		t.Fatalf("Dequeue = %d, %v; want 3", v, err)
	}
	if _, err := r.Dequeue(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dequeue on drained closed ring: %v", err)
	}
}

func TestDequeueContext(t *testing.T) {
	r := mustNew[int](t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := r.Dequeue(ctx)
		errc <- err
	}()
	for r.waiters.Load() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if r.waiters.Load() != 0 {
		t.Fatalf("waiter count %d after cancel", r.waiters.Load())
	}
	// A cancelled context does not hide items that are already there.
	r.TryEnqueue(7)
	if v, err := r.Dequeue(ctx); err != nil || v != 7 {
		t.Fatalf("Dequeue = %d, %v", v, err)
	}
}

// TestSignalProtocol checks the producer and pass-on steps of the wake-up
// protocol directly, with a waiter registered by hand.
func TestSignalProtocol(t *testing.T) {
	r := mustNew[int](t, 8)
	r.TryEnqueue(1)
	if len(r.wake) != 0 {
		t.Fatal("token sent with no waiter registered")
	}
	r.waiters.Add(1) // a consumer between registering and parking
	r.TryEnqueue(2)
	if len(r.wake) != 1 {
		t.Fatal("no token for a registered waiter")
	}
	r.TryEnqueue(3) // token already pending: dropped, must not block
	<-r.wake        // the registered consumer takes it
	r.passOn()      // items remain and the count still shows a waiter
	if len(r.wake) != 1 {
		t.Fatal("token not passed on while items remain")
	}
	<-r.wake
	for {
		if _, ok := r.TryDequeue(); !ok {
			break
		}
	}
	r.passOn()
	if len(r.wake) != 0 {
		t.Fatal("token passed on with nothing to take")
	}
	r.waiters.Add(-1)
}

func TestDequeueFirst(t *testing.T) {
	urgent, _ := New[int](4)
	routine, _ := New[int](4)
	for _, v := range []int{1, 2} {
		routine.TryEnqueue(v)
	}
	urgent.TryEnqueue(10)
	ctx := context.Background()
	var got []int
	for range 3 {
		v, err := DequeueFirst(ctx, urgent, routine)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if want := []int{10, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("dequeued %v, want %v (the first lane before the second)", got, want)
	}

	// A consumer parked on both empty lanes wakes for an item in either.
	for _, lane := range []*Ring[int]{urgent, routine} {
		done := make(chan int)
		go func() {
			v, err := DequeueFirst(ctx, urgent, routine)
			if err != nil {
				t.Error(err)
			}
			done <- v
		}()
		for lane.waiters.Load() == 0 { // parked
			runtime.Gosched()
		}
		lane.TryEnqueue(7)
		if v := <-done; v != 7 {
			t.Errorf("woke with %d, want 7", v)
		}
	}

	urgent.TryEnqueue(3)
	urgent.Close()
	routine.Close()
	if v, err := DequeueFirst(ctx, urgent, routine); err != nil || v != 3 {
		t.Errorf("after close: %d, %v; want what was left first", v, err)
	}
	if _, err := DequeueFirst(ctx, urgent, routine); !errors.Is(err, ErrClosed) {
		t.Errorf("closed and drained: %v, want ErrClosed", err)
	}
}
