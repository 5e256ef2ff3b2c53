// Command cpra-agent runs health checks, automated remediation and alert
// dispatch for large fleets of services.
//
// It only calls agent.Main; see the README for flags and the monitor file,
// and docs/architecture.md for how it works.
package main
