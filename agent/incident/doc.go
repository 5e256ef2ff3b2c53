// Package incident is the colour-code state machine of one monitor: a pure
// function from (status, policy, event) to (new status, codes to send,
// whether to intervene). It holds no clocks, goroutines or I/O, so every
// transition is covered by a table test.
//
//	state        event              next         code / action
//	unknown      check ok           healthy      -
//	healthy      check failed       degraded     yellow (and escalate at the threshold)
//	degraded     failures=threshold intervening  intervene (if configured and the guard allows)
//	degraded     failures=threshold down         red (no intervention, or the guard tripped)
//	intervening  remedy ok          verifying    cyan
//	intervening  remedy failed      down         red
//	verifying    check failed       down         red
//	down         every threshold-th failure      intervene again while the guard allows
//	degraded/down/verifying  healthy_threshold successes  healthy  green
//	any          disabled           maintenance  gray
//	unknown/healthy/degraded/down/verifying  alert firing  intervening  intervene (if the guard allows; red when it trips)
//
// Checks keep running while a remedy is in flight and while verifying.
//
// "Alert firing" is an alert from Alertmanager's webhook about a monitor
// whose intervention opted in (`intervention.on_alert`). It escalates as
// reaching max_failures does, through the same restart-loop guard, but
// changes no failure count; while intervening or in maintenance it does
// nothing.
package incident
