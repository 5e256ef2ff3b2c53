// Command cpra-demostack runs the whole loop on loopback: Debian's
// Prometheus and Alertmanager and the agent, with the shipped alerting
// rules and Alertmanager configuration, watching the embedded example's demo
// service. `make demo-stack` starts it; Ctrl-C stops everything.
//
// The agent's red and green codes go to Alertmanager; Prometheus scrapes the
// agent and evaluates the shipped rules plus one demo rule whose alert names
// a monitor (cpra_monitor), which Alertmanager sends into the agent. What
// Alertmanager pages people with is printed here. The configurations are the
// shipped files with their placeholders filled in and their timers
// shortened, so that a demo takes a minute, not an hour.
package main
