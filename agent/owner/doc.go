// Package owner is the agent's one owner of state: the world of monitors,
// the pulse host breakers and intervention breakers, the remedies waiting
// for a worker, the open incidents' traces and the memory of alerts that
// asked for an intervention. Only the goroutine running Owner.Run touches
// them; everything else reaches them through typed requests (Running,
// Apply, Lookup, RouteAlerts) that the loop answers between its other
// inputs:
//
//	tick      -> World.Offer -> offerCheck: host breaker open? skipped (the
//	                            host's one red code says why); else the
//	                            pulse pipeline (refused = stays due)
//	outcomes  -> applyCheck / applyRemedy: breakers learn the result, the
//	                            world steps the monitor, effects follow
//	effects   -> flushEffects: codes to the dispatcher, remedies (behind
//	                            their breakers) to the intervention pipeline
//	requests  -> reload (Apply), probe lookups, webhook alerts, and in a
//	             cluster the ring's ownership (SetOwnership, adopting what
//	             peers handed over) and this replica's handover (Handover)
//
// The workers are pure: a pulse worker runs one check and returns its
// outcome, an intervention worker one remedy; the owner decides what the
// outcome means (conclusive or not, trial or not) when it applies it.
package owner
