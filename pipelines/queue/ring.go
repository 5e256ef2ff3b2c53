package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Dequeue once the ring is closed and drained.
var ErrClosed = errors.New("queue: closed")

// maxCapacity keeps positions and sequence numbers far from overflow and
// the slot array within reason.
const maxCapacity = 1 << 30

// cacheLine is the padding unit. 128 bytes rather than 64 because x86's
// adjacent-line prefetcher pulls cache lines in pairs.
const cacheLine = 128

type slot[T any] struct {
	seq atomic.Uint64 // position+1 when full, position when free for that position
	val T
}

// Ring is a bounded lock-free MPMC FIFO queue. The zero value is not
// usable; create one with New. All methods are safe for concurrent use.
type Ring[T any] struct {
	_       [cacheLine]byte
	tail    atomic.Uint64 // next position to enqueue; written by producers
	_       [cacheLine - 8]byte
	head    atomic.Uint64 // next position to dequeue; written by consumers
	_       [cacheLine - 8]byte
	waiters atomic.Int64 // consumers registered to be woken; read by every enqueue
	_       [cacheLine - 8]byte

	// Read-mostly below.
	closed atomic.Bool
	mask   uint64
	slots  []slot[T]
	wake   chan struct{} // capacity 1: "look again", see the package comment
	done   chan struct{} // closed by Close
	once   sync.Once
}

// New returns a ring that holds capacity items, rounded up to a power of
// two and at least 2 (Vyukov's sequence scheme cannot tell a full slot from
// a free one with a single slot).
func New[T any](capacity int) (*Ring[T], error) {
	if capacity < 1 || capacity > maxCapacity {
		return nil, fmt.Errorf("queue: capacity %d out of range [1, %d]", capacity, maxCapacity)
	}
	n := 2
	for n < capacity {
		n <<= 1
	}
	r := &Ring[T]{
		mask:  uint64(n - 1),
		slots: make([]slot[T], n),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r, nil
}

// Cap is the number of items the ring holds.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Len is the number of items enqueued and not yet dequeued. It is a
// snapshot under concurrency: never negative and never above Cap, but
// possibly stale and counting items whose enqueue is still in progress.
func (r *Ring[T]) Len() int {
	h := r.head.Load()
	t := r.tail.Load() // loaded after head, and head never passes tail, so t >= h
	if n := t - h; n < uint64(len(r.slots)) {
		return int(n)
	}
	return len(r.slots)
}

// TryEnqueue adds v without blocking. It returns false if the ring is full
// or closed.
func (r *Ring[T]) TryEnqueue(v T) bool {
	if r.closed.Load() {
		return false
	}
	pos := r.tail.Load()
	for {
		s := &r.slots[pos&r.mask]
		switch d := int64(s.seq.Load() - pos); {
		case d == 0: // free for this lap
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publish
				r.signal()
				return true
			}
			pos = r.tail.Load()
		case d < 0: // still holds the previous lap's item: full
			return false
		default: // another producer got here first
			pos = r.tail.Load()
		}
	}
}

// TryDequeue removes the oldest item without blocking. It returns false if
// the ring is empty (or its oldest item is still being enqueued).
func (r *Ring[T]) TryDequeue() (T, bool) {
	var zero T
	pos := r.head.Load()
	for {
		s := &r.slots[pos&r.mask]
		switch d := int64(s.seq.Load() - (pos + 1)); {
		case d == 0: // published for this lap
			if r.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				s.val = zero // let the GC free what it referenced
				s.seq.Store(pos + r.mask + 1)
				return v, true
			}
			pos = r.head.Load()
		case d < 0: // not yet published: empty
			return zero, false
		default: // another consumer got here first
			pos = r.head.Load()
		}
	}
}

// Dequeue removes the oldest item, blocking while the ring is empty. It
// returns ErrClosed once the ring is closed and drained, or ctx's error.
func (r *Ring[T]) Dequeue(ctx context.Context) (T, error) {
	var zero T
	woken := false
	defer func() {
		if woken {
			r.passOn()
		}
	}()
	for {
		if v, ok := r.TryDequeue(); ok {
			return v, nil
		}
		if r.closed.Load() {
			if r.Len() == 0 {
				return zero, ErrClosed
			}
			// An enqueue that raced Close is mid-publish; it is about to land.
			runtime.Gosched()
			continue
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		r.waiters.Add(1)
		// Look again now that producers can see us (step 1 of the protocol).
		if v, ok := r.TryDequeue(); ok {
			r.waiters.Add(-1)
			return v, nil
		}
		select {
		case <-r.wake:
			woken = true
		case <-r.done:
		case <-ctx.Done():
		}
		r.waiters.Add(-1)
	}
}

// Close makes further enqueues fail and lets blocked consumers return
// ErrClosed once the ring is drained. Call it after producers are done,
// as with a channel. It is safe to call more than once.
func (r *Ring[T]) Close() {
	r.once.Do(func() {
		r.closed.Store(true)
		close(r.done)
	})
}

// signal wakes a parked consumer after a publish (step 2 of the protocol).
// The atomic load keeps the common no-waiter case free of channel work.
func (r *Ring[T]) signal() {
	if r.waiters.Load() > 0 {
		select {
		case r.wake <- struct{}{}:
		default: // a token is already pending; its taker passes it on
		}
	}
}

// passOn forwards a taken token while others still wait and items remain,
// so that tokens dropped by signal are not lost (step 3 of the protocol).
func (r *Ring[T]) passOn() {
	if r.waiters.Load() > 0 && r.Len() > 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// DequeueFirst removes the oldest item of first, or, while first is empty,
// of second: two lanes of one queue, the first always served before the
// second. It blocks while both are empty, and returns ErrClosed once both
// are closed (close them together) and drained, or ctx's error.
func DequeueFirst[T any](ctx context.Context, first, second *Ring[T]) (T, error) {
	var zero T
	var wokeFirst, wokeSecond bool
	defer func() {
		if wokeFirst {
			first.passOn()
		}
		if wokeSecond {
			second.passOn()
		}
	}()
	take := func() (T, bool) {
		if v, ok := first.TryDequeue(); ok {
			return v, true
		}
		return second.TryDequeue()
	}
	for {
		if v, ok := take(); ok {
			return v, nil
		}
		if first.closed.Load() && second.closed.Load() {
			if first.Len() == 0 && second.Len() == 0 {
				return zero, ErrClosed
			}
			runtime.Gosched() // an enqueue that raced Close is mid-publish
			continue
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		first.waiters.Add(1)
		second.waiters.Add(1)
		v, ok := take()
		if !ok {
			select {
			case <-first.wake:
				wokeFirst = true
			case <-second.wake:
				wokeSecond = true
			case <-second.done:
			case <-ctx.Done():
			}
		}
		first.waiters.Add(-1)
		second.waiters.Add(-1)
		if ok {
			return v, nil
		}
	}
}
