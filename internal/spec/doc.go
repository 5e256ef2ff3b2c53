// Package spec decodes the type-specific configuration blocks of monitor files
// strictly: unknown keys, wrong types and bad durations are all reported, each
// with the line it stands on, so a user sees every problem in one pass.
//
// Check, intervention and notifier kinds receive their `config:` block as a
// [Block] and decode it into a plain struct with [Block.Decode]. Semantic
// problems found afterwards are reported with [Block.Errorf], which attaches
// the line of the offending key.
package spec
