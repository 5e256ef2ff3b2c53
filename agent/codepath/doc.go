// Package codepath is the code path: what happens to a code between the
// world that emitted it and the dispatcher that delivers it. It holds the
// incident book (each open incident's ID and trace, and what every
// receiver that keeps firing codes holds, per subject), sends the codes
// of hosts whose breaker opened and of alerts relayed from Alertmanager,
// re-sends what holders hold, makes that follow a reload, and saves and
// restores it with the state file. One narrow API (Path) over what was
// spread across the owner: the owner calls it, on its own goroutine.
package codepath
