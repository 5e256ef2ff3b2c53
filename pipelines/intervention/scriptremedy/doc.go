// Package scriptremedy is the `script` intervention kind: it runs a program
// to repair a monitor and succeeds when the program exits 0.
//
//	intervention:
//	  type: script
//	  config:
//	    script: /usr/local/bin/restart-api.sh   # or: command: [systemctl, restart, api]
//	    args: [--graceful]
//	    env: {SERVICE: api}
//	    output_limit: 4096   # bytes of output kept, default 4096
//	    timeout: 30s         # per attempt, default 30s
//	    retries: 2           # extra attempts, default 0
//	    backoff: 1s          # pause before the first retry, doubled after each
//
// The program is run without a shell (see package proc). Its environment
// tells it what to repair and why:
//
//	CPRA_MONITOR  the monitor's name
//	CPRA_STATE    the monitor's state when the intervention was decided
//	CPRA_REASON   the last check's failure reason
//	CPRA_ATTEMPT  1 for the first attempt, 2 for the first retry, ...
//	CPRA_GROUPS   the monitor's groups, comma-separated
//
// A failed attempt's error names the program and gives its exit status and
// last line of output: "/usr/local/bin/restart-api.sh: exit status 1: unit
// api.service not found". When the timeout ends an attempt, the program and
// everything it started are killed.
package scriptremedy
