// Package queue provides Ring, a bounded lock-free multi-producer
// multi-consumer FIFO queue with a blocking dequeue that parks instead of
// spinning while the queue is empty.
//
// # Algorithm
//
// Ring follows Dmitry Vyukov's bounded MPMC queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue).
// The buffer holds a power-of-two number of slots, each with a sequence
// number. Two monotonically increasing 64-bit counters, tail (next position
// to enqueue) and head (next position to dequeue), live on separate cache
// lines so producers and consumers do not false-share. Slot i starts with
// sequence i. A producer that reads tail = p may use slot p&mask only when
// its sequence equals p (the slot is free for lap p); it claims the position
// with a CAS on tail, writes the value and publishes it by storing sequence
// p+1. A consumer at head = p may take the slot only when its sequence
// equals p+1; it claims with a CAS on head, reads the value, zeroes the slot
// so the garbage collector can free what it referenced, and hands the slot
// to the next lap by storing p+capacity. Because the counters never wrap in
// practice (64 bits), there is no ABA problem.
//
// # Memory ordering
//
// Go's sync/atomic operations are sequentially consistent, so they are at
// least release/acquire. The producer's plain write of the value happens
// before its atomic store of the sequence number; a consumer that loads that
// sequence number therefore observes the value (and the same holds for the
// consumer's zeroing and the next producer). The value itself is never
// accessed by two parties without such an edge, which is also what the race
// detector checks.
//
// # Wake-up protocol
//
// Consumers that find the queue empty may park in Dequeue. A parked
// consumer waits on a channel of capacity one (the wake token), on Close,
// or on its context. The protocol is:
//
//  1. The consumer increments the waiter count, then tries to dequeue once
//     more, and only then blocks on the token channel.
//  2. A producer, after publishing (storing the slot's sequence number),
//     loads the waiter count and, if it is positive, sends a token without
//     blocking; if a token is already pending the send is dropped.
//  3. A consumer that took a token, on leaving the wait path for any reason,
//     sends another token if consumers are still waiting and the queue is
//     not empty, so one token can wake waiters in a chain.
//
// No wake-up is lost: with sequentially consistent atomics either the
// producer's load of the waiter count sees the consumer's increment (step 2
// sends a token, or one is already pending and step 3 passes it on after
// the taker returns), or the increment came after that load, in which case
// the consumer's re-check in step 1 runs after the publish and finds the
// item. An empty observation is always about the slot at head, and the
// producer of that particular slot runs step 2 after publishing it.
// Producers never spin or sleep, and idle consumers are blocked in a
// select, so an idle queue burns no CPU.
//
// # Close
//
// Close works like closing a channel: call it once producers are done.
// Afterwards enqueues fail, and blocked consumers return what is left and
// then ErrClosed. An enqueue that races with Close may still land; it is
// then delivered before ErrClosed.
package queue
