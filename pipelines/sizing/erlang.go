package sizing

import "math"

// ErlangB returns the Erlang B blocking probability for c servers and offered
// load a (Erlangs), using the recurrence B(k) = a·B(k−1)/(k + a·B(k−1)).
// Every intermediate value lies in (0, 1], so it is finite for any c.
func ErlangB(c int, a float64) float64 {
	if c <= 0 {
		return 1 // no servers: everything is blocked
	}
	if a <= 0 {
		return 0
	}
	b := 1.0
	for k := 1; k <= c; k++ {
		b = nextB(k, a, b)
	}
	return b
}

// nextB advances the Erlang B recurrence from k−1 servers to k servers.
func nextB(k int, a, prev float64) float64 {
	ab := a * prev
	return ab / (float64(k) + ab)
}

// ErlangC returns the probability that an arrival has to wait in an M/M/c
// queue with offered load a. It is 1 when a ≥ c (the queue never empties).
func ErlangC(c int, a float64) float64 {
	if c <= 0 || a >= float64(c) {
		return 1
	}
	if a <= 0 {
		return 0
	}
	return erlangCFromB(c, a, ErlangB(c, a))
}

// erlangCFromB converts Erlang B into Erlang C for a < c.
func erlangCFromB(c int, a, b float64) float64 {
	fc := float64(c)
	return fc * b / (fc - a*(1-b))
}

// MeanWait returns E[Wq] in seconds for M/M/c with arrival rate lambda and
// service rate mu (both per second); +Inf if the queue is unstable.
func MeanWait(c int, lambda, mu float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if mu <= 0 || lambda >= float64(c)*mu {
		return math.Inf(1)
	}
	return meanWaitC(c, lambda, mu, ErlangC(c, lambda/mu))
}

func meanWaitC(c int, lambda, mu, erlangC float64) float64 {
	return erlangC / (float64(c)*mu - lambda)
}

// WaitTail returns P(Wq > t) for M/M/c, t in seconds.
func WaitTail(c int, lambda, mu, t float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if mu <= 0 || lambda >= float64(c)*mu {
		return 1
	}
	if t < 0 {
		return 1
	}
	return ErlangC(c, lambda/mu) * math.Exp(-(float64(c)*mu-lambda)*t)
}

// WaitQuantile returns the smallest t (seconds) with P(Wq > t) ≤ 1−q for
// M/M/c: 0 when C ≤ 1−q (enough arrivals never wait), +Inf if unstable.
// q must be in (0, 1).
func WaitQuantile(c int, lambda, mu, q float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if mu <= 0 || lambda >= float64(c)*mu {
		return math.Inf(1)
	}
	return waitQuantileC(c, lambda, mu, q, ErlangC(c, lambda/mu))
}

func waitQuantileC(c int, lambda, mu, q, erlangC float64) float64 {
	tail := 1 - q
	if erlangC <= tail {
		return 0
	}
	return math.Log(erlangC/tail) / (float64(c)*mu - lambda)
}

// AllenCunneen returns the Allen–Cunneen factor (ca² + cs²)/2 by which M/M/c
// waits are scaled to approximate G/G/c waits. It is 1 for Poisson arrivals
// and exponential service. Negative inputs are treated as 0.
func AllenCunneen(ca2, cs2 float64) float64 {
	return (math.Max(ca2, 0) + math.Max(cs2, 0)) / 2
}
