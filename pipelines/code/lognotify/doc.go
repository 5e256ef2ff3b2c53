// Package lognotify is the "log" notifier: it writes every code as one JSON
// object per line, to a file or to the agent's standard output.
//
//	codes:
//	  yellow: {dispatch: true, notify: log, config: {file: /var/log/cpra-alerts.log}}
//	  red:    {dispatch: true, notify: log, config: {file: ""}}   # standard output
//
// A line looks like this (keys in this order; severity, groups and labels
// are left out when empty):
//
//	{"time":"2025-01-02T03:04:05.123Z","monitor":"api-health","code":"red","severity":"critical","state":"down","message":"3 consecutive failures: status 503","groups":["web"],"labels":{"shard":"0"}}
//
// The file is opened once, in append mode, when the configuration is loaded;
// its directory must exist. Each line is written with a single write under a
// mutex, so lines from concurrent monitors never interleave.
package lognotify
