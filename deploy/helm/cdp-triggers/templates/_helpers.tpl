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
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- with .Values.image.digest -}}
{{- if not (hasPrefix "sha256:" .) }}{{ fail "image.digest: expected sha256:<64 hex digits>" }}{{ end -}}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "cdp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cdp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secrets: each comes from an existingSecret, or from a Secret this chart creates when values are given. */}}
{{- define "cdp.secretName" -}}
{{- include "cdp.fullname" . }}-secrets
{{- end -}}

{{- define "cdp.saslEnabled" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end -}}
{{- end -}}

{{- define "cdp.caEnabled" -}}
{{- if or .Values.kafka.tls.caSecret .Values.kafka.tls.ca }}true{{ end -}}
{{- end -}}

{{- define "cdp.caSecret" -}}
{{- default (printf "%s-kafka-ca" (include "cdp.fullname" .)) .Values.kafka.tls.caSecret -}}
{{- end -}}

{{/* The workers read framed values with the registry: its credentials and CA go to them only. */}}
{{- define "cdp.registryAuth" -}}
{{- if and .Values.schemaRegistry.url (or .Values.schemaRegistry.basicAuthSecret .Values.schemaRegistry.basicAuth) }}true{{ end -}}
{{- end -}}

{{- define "cdp.registryCa" -}}
{{- if and .Values.schemaRegistry.url (or .Values.schemaRegistry.caSecret .Values.schemaRegistry.ca) }}true{{ end -}}
{{- end -}}

{{- define "cdp.registryAuthSecret" -}}
{{- default (printf "%s-schema-registry" (include "cdp.fullname" .)) .Values.schemaRegistry.basicAuthSecret -}}
{{- end -}}

{{- define "cdp.registryCaSecret" -}}
{{- default (printf "%s-schema-registry-ca" (include "cdp.fullname" .)) .Values.schemaRegistry.caSecret -}}
{{- end -}}

{{- define "cdp.hookKeyEnabled" -}}
{{- if or .Values.hookSigningKey.existingSecret .Values.hookSigningKey.value }}true{{ end -}}
{{- end -}}

{{- define "cdp.hookKeySecret" -}}
{{- default (include "cdp.secretName" .) .Values.hookSigningKey.existingSecret -}}
{{- end -}}

{{/* A component's own Kafka principal: (dict "root" $ "component" "worker"). Used under SASL or mutual TLS. */}}
{{- define "cdp.principalEnabled" -}}
{{- if or (include "cdp.saslEnabled" .root) .root.Values.kafka.tls.mutual }}true{{ end -}}
{{- end -}}

{{- define "cdp.principalSecret" -}}
{{- $p := index .root.Values.kafka.principals .component -}}
{{- default (printf "%s-kafka-%s" (include "cdp.fullname" .root) .component) $p.existingSecret -}}
{{- end -}}

{{/* The settings that differ per component: its principal and, for the dispatcher and the API, the hook signing
key; files only, never secret values. (dict "root" $ "component" "worker" "hookKey" false) */}}
{{- define "cdp.componentEnv" -}}
{{- $root := .root -}}
{{- if include "cdp.principalEnabled" . -}}
{{- $p := index $root.Values.kafka.principals .component -}}
{{- if include "cdp.saslEnabled" $root }}
- name: CDP_KAFKA_SASL_USERNAME
  value: {{ required (printf "kafka.principals.%s.username is required with a SASL_ security protocol" .component) $p.username | quote }}
- name: CDP_KAFKA_SASL_PASSWORD_FILE
  value: /etc/cdp-triggers/kafka-principal/password
{{- end }}
{{- if $root.Values.kafka.tls.mutual }}
- name: CDP_KAFKA_SSL_CERT_FILE
  value: /etc/cdp-triggers/kafka-principal/tls.crt
- name: CDP_KAFKA_SSL_KEY_FILE
  value: /etc/cdp-triggers/kafka-principal/tls.key
{{- end }}
{{- end }}
{{- if and .hookKey (include "cdp.hookKeyEnabled" $root) }}
- name: CDP_HOOK_SIGNING_KEY_FILE
  value: /etc/cdp-triggers/hook-signing-key/key
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryAuth" $root) }}
- name: CDP_SCHEMA_REGISTRY_BASIC_AUTH_FILE
  value: /etc/cdp-triggers/schema-registry/basic-auth
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryCa" $root) }}
- name: CDP_SCHEMA_REGISTRY_CA_FILE
  value: /etc/cdp-triggers/schema-registry-ca/ca.crt
{{- end }}
{{- end -}}

{{/* A container's env: the component's settings, then its own entries; nothing when there are none. */}}
{{- define "cdp.env" -}}
{{- $entries := include "cdp.componentEnv" .c | fromYamlArray | default list -}}
{{- $entries = concat $entries (.extra | default list) -}}
{{- with $entries }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "cdp.envFrom" -}}
- configMapRef:
    name: {{ include "cdp.fullname" . }}-config
{{- end -}}

{{/* Volumes and mounts: /tmp, the brokers' CA, the component's principal, and the hook signing key where it is
read (the dispatcher and the API). (dict "root" $ "component" "worker" "hookKey" false) */}}
{{- define "cdp.secretVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "cdp.caEnabled" .root }}
- name: kafka-ca
  mountPath: /etc/cdp-triggers/kafka-ca
  readOnly: true
{{- end }}
{{- if include "cdp.principalEnabled" . }}
- name: kafka-principal
  mountPath: /etc/cdp-triggers/kafka-principal
  readOnly: true
{{- end }}
{{- if and .hookKey (include "cdp.hookKeyEnabled" .root) }}
- name: hook-signing-key
  mountPath: /etc/cdp-triggers/hook-signing-key
  readOnly: true
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryAuth" .root) }}
- name: schema-registry
  mountPath: /etc/cdp-triggers/schema-registry
  readOnly: true
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryCa" .root) }}
- name: schema-registry-ca
  mountPath: /etc/cdp-triggers/schema-registry-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cdp.secretVolumes" -}}
{{- $root := .root -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if include "cdp.caEnabled" $root }}
- name: kafka-ca
  secret:
    secretName: {{ include "cdp.caSecret" $root }}
    items:
      - key: {{ $root.Values.kafka.tls.caKey }}
        path: ca.crt
{{- end }}
{{- if include "cdp.principalEnabled" . }}
- name: kafka-principal
  secret:
    secretName: {{ include "cdp.principalSecret" . }}
    items:
      {{- if include "cdp.saslEnabled" $root }}
      - key: password
        path: password
      {{- end }}
      {{- if $root.Values.kafka.tls.mutual }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}
{{- if and .hookKey (include "cdp.hookKeyEnabled" $root) }}
- name: hook-signing-key
  secret:
    secretName: {{ include "cdp.hookKeySecret" $root }}
    items:
      - key: {{ $root.Values.hookSigningKey.key }}
        path: key
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryAuth" $root) }}
- name: schema-registry
  secret:
    secretName: {{ include "cdp.registryAuthSecret" $root }}
    items:
      - key: {{ $root.Values.schemaRegistry.basicAuthKey }}
        path: basic-auth
{{- end }}
{{- if and (eq .component "worker") (include "cdp.registryCa" $root) }}
- name: schema-registry-ca
  secret:
    secretName: {{ include "cdp.registryCaSecret" $root }}
    items:
      - key: {{ $root.Values.schemaRegistry.caKey }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "cdp.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "cdp.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end -}}

{{/* Probes: the paths and the port the process serves (streams/kafka/health.py). The startup probe covers the
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

{{/* The grace period must cover a preStop pause (the API's), then the process's own bound on a stop, with time
to spare for the last flush. (dict "root" $ "component" "api" "grace" 45 "preStop" 5) */}}
{{- define "cdp.gracePeriod" -}}
{{- $bound := add (int .root.Values.shutdownTimeoutSeconds) (int (.preStop | default 0)) | int -}}
{{- if lt (int .grace) (add $bound 10 | int) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed shutdownTimeoutSeconds plus its preStop pause (%d) by at least 10 s: Kubernetes would SIGKILL the %s mid-shutdown" .component (int .grace) $bound .component) -}}
{{- end -}}
{{- .grace -}}
{{- end -}}

{{/* Rolls every pod when its configuration or a secret the chart made changes. */}}
{{- define "cdp.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
{{- end -}}
