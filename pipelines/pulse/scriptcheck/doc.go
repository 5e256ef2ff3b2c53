// Package scriptcheck is the `script` check kind: it runs a program and
// reports success when it exits 0.
//
//	pulse_check:
//	  type: script
//	  timeout: 5s
//	  config:
//	    script: /usr/local/bin/check-queue.sh   # or: command: [systemctl, is-active, nginx]
//	    args: [--max, "100"]
//	    env: {QUEUE: orders}
//	    output_limit: 4096                       # bytes of output kept, default 4096
//
// The program is run without a shell (see package proc) with CPRA_MONITOR
// set to the monitor's name. It must be executable when the file is loaded.
// On failure the reason is the exit status and the last line of output,
// "exit status 2: queue depth 512 > 100", or "timed out after 5s" when the
// check's timeout kills it and everything it started.
package scriptcheck
