// Package testwait is the tests' one way of waiting for something to
// happen: poll a condition until it holds, and fail the test, saying what
// it waited for, if it does not within a generous deadline. The deadline
// only bounds a failing test; a passing one waits as long as it takes, so
// no test depends on the machine's speed.
package testwait

import (
	"testing"
	"time"
)

// Deadline is how long Until waits before it fails the test.
const Deadline = 30 * time.Second

// Until polls cond every few milliseconds until it holds, and fails t
// naming what when it does not within Deadline.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %v for %s", Deadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
