// Package schedule finds due monitors without a goroutine, timer or ticker per
// monitor: a hashed timing wheel of (id, due time) entries that one owner
// goroutine advances from a single ticker.
//
// Each entry sits in the slot of its due tick. Advancing visits the slots
// between the last visit and now, hands every entry whose time has come to a
// callback, and keeps entries that belong to a later turn of the wheel.
// Entries are never removed in place: the owner recognises a stale entry by
// comparing its due time with the monitor's current one, which makes
// rescheduling and deletion O(1).
package schedule
