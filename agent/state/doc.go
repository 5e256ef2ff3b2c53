// Package state is the agent's state directory (--storage.path): what a
// restart must not lose, in one JSON file, state.json.
//
// The file holds the monitors whose state is worth keeping (in an
// incident, in maintenance, or with interventions counted in the
// restart-loop guard's window), the hashes of the names of the monitors
// that were enabled (so a monitor disabled across a restart still gets its
// gray), the open incidents with their IDs and traces, what each receiver
// that keeps firing codes (Alertmanager) was sent, and the codes not yet
// delivered. Healthy monitors cost 8 bytes each.
//
// Write replaces the file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. Read returns nothing
// for a missing file; a file that does not parse, or that another program
// or another shard wrote, is renamed aside (state.json.bad-<time>) and
// reported, never fatal.
package state
