{{/*
The chart name, or nameOverride.
*/}}
{{- define "cpra-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: fullnameOverride, or the release name plus the chart name
(just the release name when it already contains the chart name).
*/}}
{{- define "cpra-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cpra-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cpra-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpra-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cpra-agent.labels" -}}
helm.sh/chart: {{ include "cpra-agent.chart" . }}
{{ include "cpra-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cpra-agent
{{- end }}

{{- define "cpra-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cpra-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cpra-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The number of shards, as an integer (values from --set arrive as int64,
from files as float64).
*/}}
{{- define "cpra-agent.shards" -}}
{{- int .Values.shards }}
{{- end }}

{{/*
"true" when the agent runs as a StatefulSet.
*/}}
{{- define "cpra-agent.statefulSet" -}}
{{- if or (include "cpra-agent.sharded" .) (include "cpra-agent.cluster" .) }}true{{ end }}
{{- end }}

{{/*
"true" when the monitors are split by static shards.
*/}}
{{- define "cpra-agent.sharded" -}}
{{- if or .Values.sharding.enabled (gt (int .Values.shards) 1) }}true{{ end }}
{{- end }}

{{/*
"true" in cluster mode: replicas that share the monitors over memberlist
(docs/cluster.md).
*/}}
{{- define "cpra-agent.cluster" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/*
The replicas of the StatefulSet: one per shard, or the cluster's.
*/}}
{{- define "cpra-agent.replicas" -}}
{{- if include "cpra-agent.cluster" . }}{{ int .Values.replicas }}{{ else }}{{ include "cpra-agent.shards" . }}{{ end }}
{{- end }}

{{/*
"true" when the chart creates the monitors ConfigMap.
*/}}
{{- define "cpra-agent.monitorsGenerated" -}}
{{- if not (or .Values.monitors.existingConfigMap .Values.monitors.existingSecret) }}true{{ end }}
{{- end }}

{{- define "cpra-agent.webConfigSecretName" -}}
{{- .Values.webConfig.existingSecret | default (printf "%s-web-config" (include "cpra-agent.fullname" .)) }}
{{- end }}

{{/*
"true" when the web config turns on TLS or basic auth.
*/}}
{{- define "cpra-agent.tls" -}}
{{- if and .Values.webConfig.enabled (or .Values.webConfig.tls (and (not .Values.webConfig.existingSecret) .Values.webConfig.config.tls_server_config)) }}true{{ end }}
{{- end }}

{{- define "cpra-agent.basicAuth" -}}
{{- if and .Values.webConfig.enabled (or .Values.webConfig.basicAuth (and (not .Values.webConfig.existingSecret) .Values.webConfig.config.basic_auth_users)) }}true{{ end }}
{{- end }}

{{- define "cpra-agent.scheme" -}}
{{- if include "cpra-agent.tls" . }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/*
The probe type after resolving auto.
*/}}
{{- define "cpra-agent.probeType" -}}
{{- if eq .Values.probes.type "auto" }}
{{- if include "cpra-agent.basicAuth" . }}tcpSocket{{ else }}httpGet{{ end }}
{{- else }}
{{- .Values.probes.type }}
{{- end }}
{{- end }}

{{/*
A probe's handler. Call with (dict "root" $ "path" "/-/ready").
*/}}
{{- define "cpra-agent.probeHandler" -}}
{{- if eq (include "cpra-agent.probeType" .root) "tcpSocket" }}
tcpSocket:
  port: http-metrics
{{- else }}
httpGet:
  path: {{ .path }}
  port: http-metrics
  scheme: {{ include "cpra-agent.scheme" .root }}
  {{- with .root.Values.probes.httpHeaders }}
  httpHeaders:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Checks that fail the render with a message rather than deploy something
that cannot work.
*/}}
{{- define "cpra-agent.validate" -}}
{{- if lt (int .Values.shards) 1 }}
{{- fail (printf "shards must be at least 1, got %v" .Values.shards) }}
{{- end }}
{{- if lt (int .Values.replicas) 1 }}
{{- fail (printf "replicas must be at least 1, got %v" .Values.replicas) }}
{{- end }}
{{- if and (include "cpra-agent.cluster" .) (include "cpra-agent.sharded" .) }}
{{- fail "replicas (cluster mode) and shards/sharding (static shards) exclude each other: a cluster shares the monitors by itself" }}
{{- end }}
{{- if hasKey (.Values.config | default dict) "cluster" }}
{{- fail "config.cluster is set by the chart: use replicas and cluster instead" }}
{{- end }}
{{- if and .Values.monitors.existingConfigMap .Values.monitors.existingSecret }}
{{- fail "set at most one of monitors.existingConfigMap and monitors.existingSecret" }}
{{- end }}
{{- if and (include "cpra-agent.monitorsGenerated" .) (not .Values.monitors.config) }}
{{- fail "monitors.config is empty: give a monitor file, or name one with monitors.existingConfigMap or monitors.existingSecret" }}
{{- end }}
{{- if hasKey (.Values.config | default dict) "shard" }}
{{- fail "config.shard is set by the chart: use shards (and sharding.enabled) instead" }}
{{- end }}
{{- if hasKey (.Values.config | default dict) "web" }}
{{- fail "config.web is set by the chart: use containerPort and webConfig instead" }}
{{- end }}
{{- if hasKey (.Values.config | default dict) "monitors_file" }}
{{- fail "config.monitors_file is set by the chart: use monitors instead" }}
{{- end }}
{{- if and .Values.webConfig.enabled (not .Values.webConfig.existingSecret) (not .Values.webConfig.config) }}
{{- fail "webConfig.enabled needs webConfig.config or webConfig.existingSecret" }}
{{- end }}
{{- if and (include "cpra-agent.sharded" .) (semverCompare "<1.28.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "sharding needs Kubernetes 1.28 or later (the apps.kubernetes.io/pod-index label gives each replica its shard index); this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- range .Values.extraArgs }}
{{- if hasPrefix "--shard." (toString .) }}
{{- fail (printf "extraArgs: %s is set by the chart: use shards instead" .) }}
{{- end }}
{{- if hasPrefix "--cluster." (toString .) }}
{{- fail (printf "extraArgs: %s is set by the chart: use replicas and cluster instead" .) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (include "cpra-agent.basicAuth" .) (not .Values.serviceMonitor.basicAuth) }}
{{- fail "the web config turns on basic auth: set serviceMonitor.basicAuth (Secret key references for the username and password) or Prometheus cannot scrape the agent" }}
{{- end }}
{{- end }}

{{/*
The agent configuration file: config, plus the keys the chart owns.
*/}}
{{- define "cpra-agent.agentConfig" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- with .Values.alertmanagerWebhook.bearerTokenSecret }}
{{- if .name }}
{{- $amw := $cfg.alertmanager_webhook | default dict }}
{{- $_ := set $amw "bearer_token_file" (printf "/etc/cpra-agent/alertmanager-webhook/%s" .key) }}
{{- $_ := set $cfg "alertmanager_webhook" $amw }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
