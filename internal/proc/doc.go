// Package proc runs external programs for script checks and script remedies.
//
// [Run] executes argv directly, never through a shell, so configuration
// values are never re-parsed as shell syntax. Each program runs in its own
// process group. When the program exits, and when the context ends first,
// the whole group is sent SIGKILL, so neither a check's timeout nor a script
// that backgrounds a child (`sleep 300 &`) leaves anything running. A
// process that calls setsid leaves the group and escapes; that is the way
// for a remedy to start a daemon. SIGKILL rather than SIGTERM because the
// deadline has passed or the script is done: a script that needs to clean
// up should do so before it exits.
//
// Programs do not inherit the agent's environment, which may hold secrets
// (webhook tokens, API keys). They get a small base (PATH, HOME, LANG,
// LC_ALL, TZ and TMPDIR as the agent has them, PATH defaulting to the usual
// system directories), then the variables of the monitor's config, then those
// set by the agent (CPRA_MONITOR and friends); a later value wins.
//
// Output (stdout and stderr interleaved) is kept up to a limit; past it the
// oldest bytes are dropped, because the end of the output usually says what
// went wrong. Failures are errors worded for people: "exit status 3: disk
// full", "timed out after 2s", "executable not found: /opt/check.sh".
//
// [Config] is the `config:` block that script checks and script remedies
// share: script, args, command, env and output_limit.
package proc
