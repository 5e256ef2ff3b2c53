package queue

import (
	"context"
	"errors"
	"runtime"
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
	if n := r.DequeueBatch(make([]int, 4)); n != 0 {
		t.Fatalf("DequeueBatch on empty = %d", n)
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
	if n := r.EnqueueBatch([]int{1, 2}); n != 0 {
		t.Fatalf("EnqueueBatch into full ring = %d", n)
	}
	if v, _ := r.TryDequeue(); v != 0 {
		t.Fatalf("dequeue = %d, want 0", v)
	}
	if !r.TryEnqueue(4) {
		t.Fatal("enqueue after freeing a slot failed")
	}
	if r.EnqueueBatch(nil) != 0 || r.DequeueBatch(nil) != 0 {
		t.Fatal("empty batches should do nothing")
	}
}

func TestBatchPartialWhenNearlyFull(t *testing.T) {
	r := mustNew[int](t, 8)
	if n := r.EnqueueBatch([]int{0, 1, 2, 3, 4}); n != 5 {
		t.Fatalf("first batch = %d, want 5", n)
	}
	if n := r.EnqueueBatch([]int{5, 6, 7, 8, 9}); n != 3 {
		t.Fatalf("second batch = %d, want the 3 free slots", n)
	}
	out := make([]int, 16)
	if n := r.DequeueBatch(out); n != 8 {
		t.Fatalf("DequeueBatch = %d, want 8", n)
	}
	for i, v := range out[:8] {
		if v != i {
			t.Fatalf("out[%d] = %d", i, v)
		}
	}
	// A batch larger than the ring enqueues Cap items.
	if n := r.EnqueueBatch(make([]int, 20)); n != 8 {
		t.Fatalf("oversized batch = %d, want 8", n)
	}
}

func TestWrapAround(t *testing.T) {
	r := mustNew[int](t, 4)
	next, want := 0, 0
	out := make([]int, 3)
	for round := range 10000 {
		// Alternate single and batch operations so both cross the wrap.
		if round%2 == 0 {
			r.TryEnqueue(next)
			next++
			n := r.EnqueueBatch([]int{next, next + 1})
			next += n
		} else {
			for r.TryEnqueue(next) {
				next++
			}
		}
		n := r.DequeueBatch(out)
		for _, v := range out[:n] {
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
	r.EnqueueBatch([]*int{&x})
	r.TryDequeue()
	r.DequeueBatch(make([]*int, 1))
	for i := range r.slots {
		if r.slots[i].val != nil {
			t.Fatalf("slot %d still references its value", i)
		}
	}
}

// TestMPMCStress checks exactly-once delivery and per-producer order as
// seen by each consumer, mixing single and batch operations on a small ring
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
			batch := make([]uint64, 0, 16)
			for i := 0; i < perProducer; {
				if i%3 == 0 { // batch of up to 16
					batch = batch[:0]
					for j := i; j < perProducer && len(batch) < cap(batch); j++ {
						batch = append(batch, uint64(p)<<32|uint64(j))
					}
					n := r.EnqueueBatch(batch)
					i += n
					if n == 0 {
						runtime.Gosched()
					}
				} else if r.TryEnqueue(uint64(p)<<32 | uint64(i)) {
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
			out := make([]uint64, 8)
			for k := 0; ; k++ {
				if k%2 == 0 {
					v, err := r.Dequeue(context.Background())
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil || !check(v) {
						return
					}
					continue
				}
				n, err := r.DequeueBatchWait(context.Background(), out)
				if errors.Is(err, ErrClosed) {
					return
				}
				for _, v := range out[:n] {
					if !check(v) {
						return
					}
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
			out := make([]int, 1)
			for {
				var v int
				var err error
				if c%2 == 0 {
					v, err = r.Dequeue(context.Background())
				} else {
					_, err = r.DequeueBatchWait(context.Background(), out)
					v = out[0]
				}
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
				if p == 0 {
					for r.EnqueueBatch([]int{p}) == 0 {
						runtime.Gosched()
					}
					return
				}
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
	r.EnqueueBatch([]int{1, 2, 3})

	// A parked consumer on another ring returns ErrClosed when it is closed.
	empty := mustNew[int](t, 4)
	errc := make(chan error)
	go func() {
		_, err := empty.DequeueBatchWait(context.Background(), make([]int, 2))
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
	if r.TryEnqueue(4) || r.EnqueueBatch([]int{4}) != 0 {
		t.Fatal("enqueue after Close succeeded")
	}
	// Remaining items drain before ErrClosed.
	if v, err := r.Dequeue(context.Background()); err != nil || v != 1 {
		t.Fatalf("Dequeue = %d, %v; want 1", v, err)
	}
	out := make([]int, 4)
	if n, err := r.DequeueBatchWait(context.Background(), out); err != nil || n != 2 || out[0] != 2 || out[1] != 3 {
		t.Fatalf("DequeueBatchWait = %d, %v, %v", n, err, out[:n])
	}
	if _, err := r.Dequeue(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dequeue on drained closed ring: %v", err)
	}
	if _, err := r.DequeueBatchWait(context.Background(), out); !errors.Is(err, ErrClosed) {
		t.Fatalf("DequeueBatchWait on drained closed ring: %v", err)
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
	if n, err := r.DequeueBatchWait(ctx, nil); n != 0 || err != nil {
		t.Fatalf("empty out: %d, %v", n, err)
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
	r.EnqueueBatch([]int{3, 4}) // token already pending: dropped, must not block
	<-r.wake                    // the registered consumer takes it
	r.passOn()                  // items remain and the count still shows a waiter
	if len(r.wake) != 1 {
		t.Fatal("token not passed on while items remain")
	}
	<-r.wake
	r.DequeueBatch(make([]int, 8))
	r.passOn()
	if len(r.wake) != 0 {
		t.Fatal("token passed on with nothing to take")
	}
	r.waiters.Add(-1)
}
