// Package pulse defines the seam between the agent and its check kinds, and
// runs checks on the pulse pipeline's workers.
//
// A check kind is one package (httpcheck, tcpcheck, icmpcheck, scriptcheck)
// exporting a [Kind]; the built-in kinds are registered in pipelines/builtin.
// Adding a kind is one package plus one line there.
package pulse
