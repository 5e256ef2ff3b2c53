// Package domain holds the types every part of the agent speaks: the
// colour codes and the notification that carries one for one monitor.
// It imports nothing of the agent, so the incident state machine, the
// world, the dispatcher and every notifier can share it without depending
// on one another.
package domain
