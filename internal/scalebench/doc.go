// Package scalebench runs the real cpra-agent binary against a real nginx on
// loopback at a chosen scale and reports, window by window, whether it keeps
// up: checks served against checks due, schedule lag, CPU per check, memory,
// monitors per state, pool size, breaker rejections and open connections.
// It can also drive Debian's blackbox_exporter with wrk against the same
// nginx, so the comparison comes from one run on one machine.
//
// The command is cmd/cpra-scalebench (`make bench-scale`); the end-to-end
// tests run a short version and assert the qualitative properties (nothing
// dropped, no monitor leaves healthy, the pool stays bounded). No timing
// threshold is asserted in a test: the figures are for docs/performance.md.
package scalebench
