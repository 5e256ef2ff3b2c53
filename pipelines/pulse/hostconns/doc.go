// Package hostconns sizes the agent's concurrent connections to each target
// host from the measured demand, and holds checks that find their host's
// limit reached until a slot frees.
//
// Many monitors often sit behind one host (an ingress, an API gateway, a
// Service VIP). By Little's law the connections such a host needs are its
// check arrival rate λ times the time W a check spends in the target. Every
// window [Limits] measures both per host and sets the host's limit to
// R + β·√R (square-root staffing for the randomness of arrivals and service,
// R = λW) plus a fraction of headroom, between a floor and a ceiling (the
// agent-wide max_connections_per_host, lowered by any monitor's own), and
// never above what the process's open-files limit leaves for all hosts
// together. Between windows, a check that finds its host's limit reached
// grows it at once, one slot at a time, up to the ceiling and the budget:
// demand the estimate has not seen yet (a new host, a burst, hangs that have
// not timed out) is never held back for a window. Only a host at its
// ceiling or at the budget makes checks wait.
//
// The time a check waits for a slot is the agent's, never the target's: the
// check's timeout starts only once it holds one (pulse.Run). The time in
// the target is what Release reports, and it alone feeds W, so a host's own
// latency, not the agent's queueing, sizes its limit.
//
// Hosts at the floor with nothing in flight are forgotten at once, so a
// fleet of a million hosts, each checked once a minute, keeps only the
// hosts with checks in flight; a host that grew keeps its entry until it has
// been idle for a while. Every decision is a metric with its reason.
package hostconns
