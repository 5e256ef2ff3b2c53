// Package code defines colour codes, the notifier seam, and the code
// pipeline's dispatcher, which delivers every code with retries and backoff
// and never drops one silently.
//
// Notifier kinds live in lognotify, webhooknotify and alertmanagernotify and
// are registered in pipelines/builtin.
package code
