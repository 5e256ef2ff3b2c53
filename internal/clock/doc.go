// Package clock is the time source of the parts of the agent whose
// behaviour time decides (the code dispatcher's backoff, breakers and
// retries), so that their tests can move time themselves instead of
// sleeping. Real is the wall clock; Fake is moved by Advance.
package clock
