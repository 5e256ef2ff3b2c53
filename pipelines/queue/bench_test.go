package queue

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkQueue moves b.N int64 items from P producers to C consumers,
// one at a time, through a Ring and through a buffered channel of the same
// capacity, so ns/op is nanoseconds per item.
//
// The work is split across goroutines, so these use b.N rather than
// b.Loop, which counts iterations of a single loop.
//
// Ring producers retry a failed enqueue after runtime.Gosched (Ring has no
// blocking enqueue) and consumers park in Dequeue. Channel producers and
// consumers block in send and receive.
func BenchmarkQueue(b *testing.B) {
	for _, capacity := range []int{64, 1024, 65536} {
		for _, n := range []int{1, 2, 4} {
			name := fmt.Sprintf("cap=%d/%dx%d", capacity, n, n)
			b.Run(name+"/ring", func(b *testing.B) { benchRing(b, capacity, n) })
			b.Run(name+"/chan", func(b *testing.B) { benchChan(b, capacity, n) })
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

func benchRing(b *testing.B, capacity, n int) {
	r, err := New[int64](capacity)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var received atomic.Int64
	var producers, consumers sync.WaitGroup
	b.ResetTimer()
	for range n {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			ctx := context.Background()
			got := 0
			for {
				if _, err := r.Dequeue(ctx); err != nil {
					break
				}
				got++
			}
			received.Add(int64(got))
		}()
	}
	for p := range n {
		producers.Add(1)
		go func() {
			defer producers.Done()
			todo := share(b.N, n, p)
			for i := 0; i < todo; {
				if r.TryEnqueue(int64(i)) {
					i++
				} else {
					runtime.Gosched()
				}
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

func benchChan(b *testing.B, capacity, n int) {
	b.ReportAllocs()
	var received atomic.Int64
	var producers, consumers sync.WaitGroup
	ch := make(chan int64, capacity)
	b.ResetTimer()
	for range n {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			got := 0
			for range ch {
				got++
			}
			received.Add(int64(got))
		}()
	}
	for p := range n {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := range share(b.N, n, p) {
				ch <- int64(i)
			}
		}()
	}
	producers.Wait()
	close(ch)
	consumers.Wait()
	b.StopTimer()
	if got := received.Load(); got != int64(b.N) {
		b.Fatalf("received %d items, want %d", got, b.N)
	}
}
