package config

import (
	"fmt"
	"hash/fnv"
)

// ShardOf is the shard a monitor name belongs to: a stable hash of the
// name modulo the shard count, so every monitor belongs to exactly one
// shard, whichever replica computes it.
func ShardOf(name string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int(h.Sum64() % uint64(count))
}

// Owns reports whether this replica runs the monitor called name.
func (s Shard) Owns(name string) bool {
	return s.Count <= 1 || ShardOf(name, s.Count) == s.Index
}

// Keep keeps the monitors this replica owns, in place.
func (s Shard) Keep(ms []Monitor) []Monitor {
	if s.Count <= 1 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if s.Owns(m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// Labels are the labels this replica adds to every code it sends: the
// shard index, when there is more than one shard.
func (s Shard) Labels() map[string]string {
	if s.Count <= 1 {
		return nil
	}
	return map[string]string{"shard": fmt.Sprint(s.Index)}
}
