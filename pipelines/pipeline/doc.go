// Package pipeline runs one of the agent's three pipelines (pulse,
// intervention, code): a bounded queue that producers never block on, a
// goroutine pool (github.com/panjf2000/ants/v2) that works through it, and a
// bounded result channel back to the owner.
//
// TrySubmit refuses work when the queue is full instead of blocking, so the
// owner goroutine can defer it (backpressure) and keep applying results; a
// slow pipeline therefore never stalls another.
package pipeline
