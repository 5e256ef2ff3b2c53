package queue

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkQueue moves b.N int64 items from P producers to C consumers
// through a Ring and through a buffered channel of the same capacity, one
// item at a time and in batches of 64, so ns/op is nanoseconds per item.
//
// The work is split across goroutines, so these use b.N rather than
// b.Loop, which counts iterations of a single loop.
//
// Ring producers retry a failed enqueue after runtime.Gosched (Ring has no
// blocking enqueue) and consumers park in Dequeue/DequeueBatchWait.
// Channel producers and consumers block in send and receive. The batched
// channel carries [64]int64 arrays in a channel of capacity/64 elements,
// so both hold the same number of items and neither allocates per batch.
func BenchmarkQueue(b *testing.B) {
	for _, capacity := range []int{64, 1024, 65536} {
		for _, n := range []int{1, 2, 4} {
			for _, batch := range []int{1, 64} {
				name := fmt.Sprintf("cap=%d/%dx%d/batch=%d", capacity, n, n, batch)
				b.Run(name+"/ring", func(b *testing.B) { benchRing(b, capacity, n, batch) })
				b.Run(name+"/chan", func(b *testing.B) { benchChan(b, capacity, n, batch) })
			}
		}
	}
}

// share is how many of total items producer p of n sends.
func share(total, n, p int) int {
	s := total / n
	if p < total%n {
		s++
	}
	return s
}

func benchRing(b *testing.B, capacity, n, batch int) {
	r, err := New[int64](capacity)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var received atomic.Int64
	var producers, consumers sync.WaitGroup
	b.ResetTimer()
	for c := 0; c < n; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			ctx := context.Background()
			got := 0
			out := make([]int64, batch)
			for {
				if batch == 1 {
					if _, err := r.Dequeue(ctx); err != nil {
						break
					}
					got++
					continue
				}
				k, err := r.DequeueBatchWait(ctx, out)
				if err != nil {
					break
				}
				got += k
			}
			received.Add(int64(got))
		}()
	}
	for p := 0; p < n; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			todo := share(b.N, n, p)
			buf := make([]int64, batch)
			for i := 0; i < todo; {
				if batch == 1 {
					if r.TryEnqueue(int64(i)) {
						i++
					} else {
						runtime.Gosched()
					}
					continue
				}
				m := min(batch, todo-i)
				for j := range m {
					buf[j] = int64(i + j)
				}
				for k := 0; k < m; {
					w := r.EnqueueBatch(buf[k:m])
					if w == 0 {
						runtime.Gosched()
					}
					k += w
				}
				i += m
			}
		}()
	}
	producers.Wait()
	r.Close()
	consumers.Wait()
	b.StopTimer()
	if got := received.Load(); got != int64(b.N) {
		b.Fatalf("received %d items, want %d", got, b.N)
	}
}

type chunk struct {
	n int
	v [64]int64
}

func benchChan(b *testing.B, capacity, n, batch int) {
	b.ReportAllocs()
	var received atomic.Int64
	var producers, consumers sync.WaitGroup
	single := make(chan int64, capacity)
	batched := make(chan chunk, max(1, capacity/64))
	b.ResetTimer()
	for c := 0; c < n; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			got := 0
			if batch == 1 {
				for range single {
					got++
				}
			} else {
				for ch := range batched {
					got += ch.n
				}
			}
			received.Add(int64(got))
		}()
	}
	for p := 0; p < n; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			todo := share(b.N, n, p)
			if batch == 1 {
				for i := range todo {
					single <- int64(i)
				}
				return
			}
			var ch chunk
			for i := 0; i < todo; i += ch.n {
				ch.n = min(batch, todo-i)
				for j := range ch.n {
					ch.v[j] = int64(i + j)
				}
				batched <- ch
			}
		}()
	}
	producers.Wait()
	close(single)
	close(batched)
	consumers.Wait()
	b.StopTimer()
	if got := received.Load(); got != int64(b.N) {
		b.Fatalf("received %d items, want %d", got, b.N)
	}
}
