// Package code is the notifier seam (Notifier, Kind) and the code
// pipeline's dispatcher, which delivers every code with retries and
// backoff and never drops one silently. The codes themselves are
// domain.Code and domain.Notification.
//
// Notifier kinds live in lognotify, webhooknotify and alertmanagernotify and
// are registered in pipelines/builtin.
package code
