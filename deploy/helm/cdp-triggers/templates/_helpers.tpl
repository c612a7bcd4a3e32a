{{/* Names, labels and the pod parts every component shares. */}}

{{- define "cdp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cdp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "cdp.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "cdp.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: (dict "root" $ "component" "worker"). Kept short: a StatefulSet's pod
names, with their ordinal, are its members' static group instance ids. */}}
{{- define "cdp.component" -}}
{{- printf "%s-%s" (include "cdp.fullname" .root) .component | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "cdp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cdp.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cdp.labels" -}}
{{ include "cdp.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: cdp-triggers
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "cdp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "cdp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cdp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secrets: each comes from an existingSecret, or from the Secret this chart creates when a value is given. */}}
{{- define "cdp.secretName" -}}
{{- include "cdp.fullname" . }}-secrets
{{- end -}}

{{- define "cdp.saslSecret" -}}
{{- default (include "cdp.secretName" .) .Values.kafka.sasl.existingSecret -}}
{{- end -}}

{{- define "cdp.tlsEnabled" -}}
{{- if or .Values.kafka.tls.existingSecret .Values.kafka.tls.ca .Values.kafka.tls.cert }}true{{ end -}}
{{- end -}}

{{- define "cdp.tlsSecret" -}}
{{- default (printf "%s-kafka-tls" (include "cdp.fullname" .)) .Values.kafka.tls.existingSecret -}}
{{- end -}}

{{- define "cdp.hasCa" -}}
{{- if or .Values.kafka.tls.ca (and .Values.kafka.tls.existingSecret .Values.kafka.tls.caKey) }}true{{ end -}}
{{- end -}}

{{- define "cdp.hookKeySecret" -}}
{{- default (include "cdp.secretName" .) .Values.hookSigningKey.existingSecret -}}
{{- end -}}

{{- define "cdp.saslEnabled" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end -}}
{{- end -}}

{{- define "cdp.hookKeyEnabled" -}}
{{- if or .Values.hookSigningKey.existingSecret .Values.hookSigningKey.value }}true{{ end -}}
{{- end -}}

{{/* The container parts every process shares: the configuration (one ConfigMap), the Kafka credentials and the
hook signing key as files, never as environment values. */}}
{{- define "cdp.envFrom" -}}
- configMapRef:
    name: {{ include "cdp.fullname" . }}-config
{{- end -}}

{{- define "cdp.secretVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "cdp.saslEnabled" . }}
- name: kafka-sasl
  mountPath: /etc/cdp-triggers/kafka-sasl
  readOnly: true
{{- end }}
{{- if include "cdp.tlsEnabled" . }}
- name: kafka-tls
  mountPath: /etc/cdp-triggers/kafka-tls
  readOnly: true
{{- end }}
{{- if include "cdp.hookKeyEnabled" . }}
- name: hook-signing-key
  mountPath: /etc/cdp-triggers/hook-signing-key
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cdp.secretVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if include "cdp.saslEnabled" . }}
- name: kafka-sasl
  secret:
    secretName: {{ include "cdp.saslSecret" . }}
    items:
      - key: {{ .Values.kafka.sasl.passwordKey }}
        path: password
{{- end }}
{{- if include "cdp.tlsEnabled" . }}
- name: kafka-tls
  secret:
    secretName: {{ include "cdp.tlsSecret" . }}
    items:
      {{- if include "cdp.hasCa" . }}
      - key: {{ .Values.kafka.tls.caKey }}
        path: ca.crt
      {{- end }}
      {{- if .Values.kafka.tls.mutual }}
      - key: {{ .Values.kafka.tls.certKey }}
        path: tls.crt
      - key: {{ .Values.kafka.tls.keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- if include "cdp.hookKeyEnabled" . }}
- name: hook-signing-key
  secret:
    secretName: {{ include "cdp.hookKeySecret" . }}
    items:
      - key: {{ .Values.hookSigningKey.key }}
        path: key
{{- end }}
{{- end -}}

{{- define "cdp.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "cdp.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end -}}

{{/* Probes: the paths and the port the process serves (streams/runtime/health.py). The startup probe covers the
boot until the port listens (imports, the Kafka check and the topics, each bounded by CDP_KAFKA_TIMEOUT_SECONDS);
liveness then never fails while state is restored or a rebalance runs; readiness does. */}}
{{- define "cdp.probes" -}}
{{- $p := .probes -}}
startupProbe:
  httpGet:
    path: /livez
    port: {{ .port }}
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /livez
    port: {{ .port }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{- define "cdp.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled -}}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.topologySpread.maxSkew }}
    topologyKey: {{ .root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ .root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "cdp.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* The grace period must cover the process's own bound on a stop, with time to spare for the last flush. */}}
{{- define "cdp.gracePeriod" -}}
{{- $bound := int .root.Values.shutdownTimeoutSeconds -}}
{{- if lt (int .grace) (add $bound 10 | int) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed shutdownTimeoutSeconds (%d) by at least 10 s: Kubernetes would SIGKILL the %s mid-shutdown" .component (int .grace) $bound .component) -}}
{{- end -}}
{{- .grace -}}
{{- end -}}

{{/* Rolls every pod when its configuration or a secret the chart made changes. */}}
{{- define "cdp.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
{{- end -}}
