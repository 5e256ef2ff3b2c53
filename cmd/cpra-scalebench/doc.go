// Command cpra-scalebench runs the cpra-agent binary at scale against nginx
// on loopback and prints one line per window, then a summary; with
// --blackbox it also drives blackbox_exporter with wrk against the same
// kind of nginx, for a comparison from one run. See internal/scalebench
// and docs/performance.md.
package main
