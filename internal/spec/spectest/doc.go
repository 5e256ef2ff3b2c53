// Package spectest helps kinds test their configuration: it turns YAML text
// into the spec.Block a kind's constructor receives from the loader.
package spectest
