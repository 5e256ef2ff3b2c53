// Package builtin is the one place where the agent's built-in check,
// intervention and notifier kinds are registered. Adding a kind is a
// package plus one line here.
package builtin
