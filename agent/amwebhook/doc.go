// /api/v1/alertmanager/webhook takes Alertmanager's webhook payload
// (version 4) and dispatches every alert as a code.
// docs/alertmanager-inbound.md is the user's guide.
//
//   - Auth: a client certificate verified by the web configuration, basic
//     auth of the web configuration (exporter-toolkit checked it before the
//     request got here), or "Authorization: Bearer TOKEN" with the token of
//     alertmanager_webhook.bearer_token_file. With none of them configured
//     the endpoint is disabled (403): it never takes anonymous input.
//   - Validation: the whole request is checked before anything is
//     dispatched; a bad one is refused with 400 and every problem.
//   - Dispatch: by the owner (owner.Owner.RouteAlerts). An alert with a
//     cpra_monitor label naming a monitor of this shard goes to that
//     monitor's notifiers;
//     others go to the monitor file's alertmanager_webhook.codes, or are
//     counted as unrouted. A firing critical alert may start the monitor's
//     intervention (intervention.on_alert), through the incident state
//     machine and its restart-loop guard, once per alert.
package amwebhook
