// Package pipeline runs one of the agent's three pipelines (pulse,
// intervention, code): a bounded lock-free ring (package queue) that
// producers never block on, a goroutine pool (github.com/panjf2000/ants/v2)
// that works through it, a bounded result channel back to the owner, and a
// sizing controller that resizes the pool from a queueing model.
//
// Backpressure: TrySubmit refuses work once the queue depth reaches the
// high water mark and keeps refusing until it has drained to the low water
// mark, so producers see a clean on/off signal instead of flapping at the
// edge. The caller keeps refused work (the scheduler leaves the monitor
// due), so nothing is dropped; a slow pipeline never stalls another.
//
// Sizing: a meter records every arrival and completion (one short critical
// section each), giving exponentially weighted estimates of the arrival
// rate and the service time with their variability, and, per window, the
// measured Little's law quantities L and λ·W. Every Sizing.Interval the
// controller asks package sizing for the smallest pool whose predicted
// queue wait at the SLO quantile meets the SLO, adds headroom, clamps, and
// applies it with the pool's Tune.
//
// Queue wait is measured from enqueue to the moment a worker starts the
// job, so time spent waiting for a free worker counts as queueing.
package pipeline
