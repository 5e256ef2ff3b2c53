// Package world keeps every monitor's state in an ark ECS world
// (github.com/mlange-42/ark) owned by a single goroutine, and turns check
// and remedy outcomes into codes and interventions through the incident
// state machine.
//
// A monitor is one entity with two small components: [Identity] (name,
// address and a pointer to a shared [Profile] holding everything else the
// monitor file says) and [Runtime] (next due time and incident status, the
// fields that change on every check). Monitors that differ only in name and
// address share one Profile, so a million monitors cost a million small
// rows, not a million configurations.
//
// In a cluster ([World.SetOwnership]) the world holds every monitor of the
// file but checks only those the ring gives this replica; the others are
// foreign: kept in the wheel with their phase, never offered or counted.
//
// Nothing here is safe for concurrent use: workers receive value jobs
// ([CheckJob], [RemedyJob]) and their outcomes come back to the owner, who
// applies them after checking that the entity is still alive (ark recycles
// entity slots).
package world
