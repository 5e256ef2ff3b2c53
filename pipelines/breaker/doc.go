// Package breaker holds circuit breakers per destination (a notifier's
// receiver, an intervention's target, a check's host) so that one dead
// destination cannot occupy a whole pipeline.
//
// A breaker is closed (calls pass), open (calls are rejected until
// OpenTimeout has passed) or half-open (up to HalfOpenRequests trial calls
// pass; if they all succeed the breaker closes, any failure opens it again).
// It opens after FailureThreshold consecutive failures.
//
// A Set keeps an entry only while its destination has failures on record:
// a closed breaker with none is the same as no breaker, so it is dropped.
// Memory therefore grows with the number of failing destinations, not with
// the number of monitors.
package breaker
