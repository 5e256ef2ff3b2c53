// Package intervention defines the seam between the agent and its remediation
// kinds (scriptremedy, webhookremedy, dockerremedy), and runs remedies with
// retries and backoff on the intervention pipeline's workers.
package intervention
