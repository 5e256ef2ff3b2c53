{{/*
The pod template shared by the Deployment and the StatefulSet.
*/}}
{{- define "cpra-agent.podTemplate" -}}
{{- $statefulSet := include "cpra-agent.statefulSet" . -}}
{{- $sharded := include "cpra-agent.sharded" . -}}
{{- $cluster := include "cpra-agent.cluster" . -}}
metadata:
  labels:
    {{- include "cpra-agent.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- if .Values.rollOnConfigChange }}
    checksum/config: {{ include (print $.Template.BasePath "/configmap-config.yaml") . | sha256sum }}
    {{- if include "cpra-agent.monitorsGenerated" . }}
    checksum/monitors: {{ include (print $.Template.BasePath "/configmap-monitors.yaml") . | sha256sum }}
    {{- end }}
    {{- if and .Values.webConfig.enabled (not .Values.webConfig.existingSecret) }}
    checksum/web-config: {{ include (print $.Template.BasePath "/secret-web-config.yaml") . | sha256sum }}
    {{- end }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cpra-agent.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- with .Values.podSecurityContext }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if and .Values.icmp.enabled .Values.icmp.pingGroupRange }}
    sysctls:
      - name: net.ipv4.ping_group_range
        value: {{ .Values.icmp.pingGroupRange | quote }}
    {{- end }}
  containers:
    - name: cpra-agent
      image: {{ include "cpra-agent.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config=/etc/cpra-agent/config/agent.yaml
        - --yaml=/etc/cpra-agent/monitors/{{ .Values.monitors.key }}
        - --web.listen-address=:{{ .Values.containerPort }}
        - --storage.path={{ .Values.storage.path }}
        {{- if .Values.webConfig.enabled }}
        - --web.config.file=/etc/cpra-agent/web/{{ .Values.webConfig.key }}
        {{- end }}
        {{- if $sharded }}
        - --shard.count={{ include "cpra-agent.shards" . }}
        {{- end }}
        {{- if $cluster }}
        # Cluster mode: gossip on every address, reached at the pod's IP,
        # named after the pod (stable across restarts), joining every pod
        # the headless Service resolves to.
        - --cluster.listen-address=0.0.0.0:{{ .Values.cluster.port }}
        - --cluster.advertise-address=$(POD_IP):{{ .Values.cluster.port }}
        - --cluster.name=$(POD_NAME)
        - --cluster.join={{ include "cpra-agent.fullname" . }}-headless.{{ .Release.Namespace }}.svc:{{ .Values.cluster.port }}
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or $statefulSet .Values.extraEnv }}
      env:
        {{- if $cluster }}
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- with .Values.cluster.secretKey.existingSecret }}
        - name: CPRA_CLUSTER_SECRET_KEY_FILE
          value: /etc/cpra-agent/cluster/{{ $.Values.cluster.secretKey.key }}
        {{- end }}
        {{- end }}
        {{- if $sharded }}
        # The shard index is the pod's ordinal. Flags win over CPRA_*
        # variables, so --shard.index must not be in extraArgs.
        - name: CPRA_SHARD_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- with .Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
        {{- if $cluster }}
        - name: gossip-tcp
          containerPort: {{ .Values.cluster.port }}
          protocol: TCP
        - name: gossip-udp
          containerPort: {{ .Values.cluster.port }}
          protocol: UDP
        {{- end }}
      {{- if .Values.probes.startup.enabled }}
      startupProbe:
        {{- include "cpra-agent.probeHandler" (dict "root" . "path" "/-/healthy") | trim | nindent 8 }}
        {{- toYaml (omit .Values.probes.startup "enabled") | nindent 8 }}
      {{- end }}
      livenessProbe:
        {{- include "cpra-agent.probeHandler" (dict "root" . "path" "/-/healthy") | trim | nindent 8 }}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        {{- include "cpra-agent.probeHandler" (dict "root" . "path" "/-/ready") | trim | nindent 8 }}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      securityContext:
        {{- $sc := deepCopy .Values.securityContext }}
        {{- if and .Values.icmp.enabled .Values.icmp.netRaw }}
        {{- $caps := $sc.capabilities | default dict }}
        {{- $_ := set $caps "add" (append ($caps.add | default list) "NET_RAW" | uniq) }}
        {{- $_ := set $sc "capabilities" $caps }}
        {{- end }}
        {{- toYaml $sc | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/cpra-agent/config
          readOnly: true
        - name: monitors
          mountPath: /etc/cpra-agent/monitors
          readOnly: true
        {{- if .Values.webConfig.enabled }}
        - name: web-config
          mountPath: /etc/cpra-agent/web
          readOnly: true
        {{- end }}
        {{- if .Values.alertmanagerWebhook.bearerTokenSecret.name }}
        - name: alertmanager-webhook
          mountPath: /etc/cpra-agent/alertmanager-webhook
          readOnly: true
        {{- end }}
        {{- if and $cluster .Values.cluster.secretKey.existingSecret }}
        - name: cluster-key
          mountPath: /etc/cpra-agent/cluster
          readOnly: true
        {{- end }}
        # Scripts and the agent may need a scratch directory; the root
        # filesystem is read-only.
        - name: tmp
          mountPath: /tmp
        - name: state
          mountPath: {{ .Values.storage.path }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- with .Values.extraContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "cpra-agent.fullname" . }}-config
    - name: monitors
      {{- if .Values.monitors.existingSecret }}
      secret:
        secretName: {{ .Values.monitors.existingSecret }}
      {{- else }}
      configMap:
        name: {{ .Values.monitors.existingConfigMap | default (printf "%s-monitors" (include "cpra-agent.fullname" .)) }}
      {{- end }}
    {{- if .Values.webConfig.enabled }}
    - name: web-config
      secret:
        secretName: {{ include "cpra-agent.webConfigSecretName" . }}
    {{- end }}
    {{- with .Values.alertmanagerWebhook.bearerTokenSecret }}
    {{- if .name }}
    - name: alertmanager-webhook
      secret:
        secretName: {{ .name }}
        items:
          - key: {{ .key }}
            path: {{ .key }}
    {{- end }}
    {{- end }}
    {{- if and $cluster .Values.cluster.secretKey.existingSecret }}
    - name: cluster-key
      secret:
        secretName: {{ .Values.cluster.secretKey.existingSecret }}
        items:
          - key: {{ .Values.cluster.secretKey.key }}
            path: {{ .Values.cluster.secretKey.key }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- $persist := .Values.storage.persistence }}
    {{- if not $persist.enabled }}
    - name: state
      emptyDir: {}
    {{- else if not $statefulSet }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ required "storage.persistence.existingClaim is required with persistence and without sharding" $persist.existingClaim }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else if and $cluster .Values.cluster.spreadAcrossNodes }}
  # Replicas on different nodes where the scheduler can: one node lost
  # costs one replica.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "cpra-agent.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end }}
