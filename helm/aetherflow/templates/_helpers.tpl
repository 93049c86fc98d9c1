{{/*
Mount points of the container contract (docs/kubernetes.md). The runner's container defaults
(aetherflow.settings CONTAINER_*) point into these directories; tests/unit/chart checks they agree.
*/}}
{{- define "aetherflow.paths.flows" -}}/etc/aetherflow/flows{{- end }}
{{- define "aetherflow.paths.profiles" -}}/etc/aetherflow/profiles{{- end }}
{{- define "aetherflow.paths.env" -}}/etc/aetherflow/env{{- end }}
{{- define "aetherflow.paths.bundle" -}}/etc/aetherflow/bundle{{- end }}
{{- define "aetherflow.paths.data" -}}/var/lib/aetherflow{{- end }}

{{/* Name of the chart, overridable. */}}
{{- define "aetherflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefixing every resource: the release name when it already contains the chart name. */}}
{{- define "aetherflow.fullname" -}}
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

{{- define "aetherflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aetherflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aetherflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aetherflow.labels" -}}
helm.sh/chart: {{ include "aetherflow.chart" . }}
{{ include "aetherflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aetherflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "aetherflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aetherflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aetherflow.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/* True when a flows ConfigMap is mounted: inline flows or an existing ConfigMap. */}}
{{- define "aetherflow.flowsEnabled" -}}
{{- if or .Values.flows .Values.flowsExistingConfigMap }}true{{- end }}
{{- end }}

{{- define "aetherflow.flowsConfigMapName" -}}
{{- default (printf "%s-flows" (include "aetherflow.fullname" .)) .Values.flowsExistingConfigMap }}
{{- end }}

{{- define "aetherflow.profilesEnabled" -}}
{{- if or .Values.profiles .Values.profilesExistingSecret }}true{{- end }}
{{- end }}

{{- define "aetherflow.profilesSecretName" -}}
{{- default (printf "%s-profiles" (include "aetherflow.fullname" .)) .Values.profilesExistingSecret }}
{{- end }}

{{- define "aetherflow.envFilesEnabled" -}}
{{- if or .Values.envFiles .Values.envFilesExistingSecret }}true{{- end }}
{{- end }}

{{- define "aetherflow.envFilesSecretName" -}}
{{- default (printf "%s-env" (include "aetherflow.fullname" .)) .Values.envFilesExistingSecret }}
{{- end }}

{{- define "aetherflow.bundleEnabled" -}}
{{- if or .Values.bundleManifests .Values.bundleManifestsExistingConfigMap }}true{{- end }}
{{- end }}

{{- define "aetherflow.bundleConfigMapName" -}}
{{- default (printf "%s-bundle" (include "aetherflow.fullname" .)) .Values.bundleManifestsExistingConfigMap }}
{{- end }}

{{- define "aetherflow.claimName" -}}
{{- default (printf "%s-data" (include "aetherflow.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* AETHERFLOW_GRACE_SECONDS = terminationGracePeriodSeconds - 30, at least 5 (docs/kubernetes.md). */}}
{{- define "aetherflow.graceSeconds" -}}
{{- max 5 (sub (int .Values.job.terminationGracePeriodSeconds) 30) }}
{{- end }}

{{/* CronJob name of a schedule item: <fullname>-<id>, DNS-safe, at most 52 characters (Job names add 11). */}}
{{- define "aetherflow.cronJobName" -}}
{{- $id := .item.id | toString | lower | replace "_" "-" | replace "." "-" }}
{{- printf "%s-%s" (include "aetherflow.fullname" .root) $id | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
The AETHERFLOW_ENV_FILES value: the env Secret as one `dir` spec, or one `dotenv` spec per dotenv key.
*/}}
{{- define "aetherflow.envFilesJson" -}}
{{- $dir := include "aetherflow.paths.env" . }}
{{- if eq .Values.envFilesType "dir" }}
{{- list (dict "type" "dir" "path" $dir) | toJson }}
{{- else }}
{{- $keys := .Values.envFilesDotenvKeys }}
{{- if and (not $keys) (not .Values.envFilesExistingSecret) }}
{{- $keys = keys .Values.envFiles | sortAlpha }}
{{- end }}
{{- if not $keys }}
{{- fail "envFilesType dotenv with envFilesExistingSecret needs envFilesDotenvKeys: the keys of the Secret that are dotenv files" }}
{{- end }}
{{- $specs := list }}
{{- range $keys }}
{{- $specs = append $specs (dict "type" "dotenv" "path" (printf "%s/%s" $dir .)) }}
{{- end }}
{{- $specs | toJson }}
{{- end }}
{{- end }}

{{/*
Environment shared by the runner containers and the helm test container, as a list of EnvVar dicts.
Called with (dict "root" $ "extra" <list of EnvVar dicts>): later entries replace earlier ones of the same name,
so extraEnv and an item's env can override what the chart sets without duplicate names in the pod spec.
*/}}
{{- define "aetherflow.env" -}}
{{- $root := .root }}
{{- $entries := list
  (dict "name" "AETHERFLOW_JOB_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.labels['batch.kubernetes.io/job-name']")))
  (dict "name" "AETHERFLOW_JOB_UID" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.labels['batch.kubernetes.io/controller-uid']")))
  (dict "name" "AETHERFLOW_POD_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name")))
  (dict "name" "AETHERFLOW_NAMESPACE" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace")))
  (dict "name" "AETHERFLOW_GRACE_SECONDS" "value" (include "aetherflow.graceSeconds" $root))
  (dict "name" "AETHERFLOW_LOCKS_SCOPE" "value" $root.Values.lockScope)
  (dict "name" "AETHERFLOW_OVERLAP_EXIT_CODE" "value" (toString (int $root.Values.overlapExitCode)))
  (dict "name" "AETHERFLOW_LOG_FORMAT" "value" $root.Values.logFormat)
  (dict "name" "AETHERFLOW_LOG_LEVEL" "value" $root.Values.logLevel)
}}
{{- if $root.Values.kubernetesEvents.enabled }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_KUBERNETES_EVENTS" "value" "true") }}
{{- end }}
{{- if not (kindIs "invalid" $root.Values.state.retentionDays) }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_STATE_RETENTION_DAYS" "value" (toString $root.Values.state.retentionDays)) }}
{{- end }}
{{- if eq $root.Values.state.backend "postgresql" }}
{{- $pg := $root.Values.state.postgresql }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_STATE_URL" "valueFrom" (dict "secretKeyRef" (dict "name" $pg.existingSecret "key" $pg.urlKey))) }}
{{- if $pg.passwordKey }}
{{- $entries = append $entries (dict "name" "PGPASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $pg.existingSecret "key" $pg.passwordKey))) }}
{{- end }}
{{- $entries = append $entries (dict "name" "PGOPTIONS" "value" (printf "-c search_path=%s" (include "aetherflow.pgSchema" $root))) }}
{{- end }}
{{- if include "aetherflow.profilesEnabled" $root }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PROFILES_FILE" "value" (printf "%s/profiles.yaml" (include "aetherflow.paths.profiles" $root))) }}
{{- end }}
{{- if include "aetherflow.envFilesEnabled" $root }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_ENV_FILES" "value" (include "aetherflow.envFilesJson" $root)) }}
{{- end }}
{{- with $root.Values.pushgateway }}
{{- if .url }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PUSHGATEWAY_URL" "value" .url) }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PUSHGATEWAY_TIMEOUT_SECONDS" "value" (toString .timeoutSeconds)) }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PUSHGATEWAY_ATTEMPTS" "value" (toString .attempts)) }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PUSHGATEWAY_NAMESPACE_LABEL" "value" (toString .namespaceLabel)) }}
{{- $entries = append $entries (dict "name" "AETHERFLOW_PUSHGATEWAY_RUN_INFO" "value" (toString .runInfo)) }}
{{- end }}
{{- end }}
{{- $names := list }}
{{- $byName := dict }}
{{- range (concat $entries $root.Values.extraEnv (default list .extra)) }}
{{- if not (hasKey $byName .name) }}
{{- $names = append $names .name }}
{{- end }}
{{- $_ := set $byName .name . }}
{{- end }}
{{- range $names }}
- {{ toYaml (get $byName .) | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/*
Schema of the release's PostgreSQL state: state.postgresql.schema, else aetherflow_<namespace>_<release> as a plain
lower-case identifier (at most 63 bytes, PostgreSQL's limit), so releases sharing a database never share runs or locks.
*/}}
{{- define "aetherflow.pgSchema" -}}
{{- if .Values.state.postgresql.schema }}
{{- .Values.state.postgresql.schema }}
{{- else }}
{{- $raw := printf "aetherflow_%s_%s" .Release.Namespace .Release.Name | lower }}
{{- regexReplaceAll "[^a-z0-9_]" $raw "_" | trunc 63 }}
{{- end }}
{{- end }}

{{/*
Refuse a PostgreSQL release whose work volume only one node can mount: pods of one release then land on any node,
so a ReadWriteOnce claim created by the chart would leave them waiting for the volume (Multi-Attach).
*/}}
{{- define "aetherflow.validateState" -}}
{{- if eq .Values.state.backend "postgresql" }}
{{- $p := .Values.persistence }}
{{- if and $p.enabled (not $p.existingClaim) (not (has "ReadWriteMany" $p.accessModes)) }}
{{- fail "state.backend postgresql: the work volume must be mountable on every node; set persistence.accessModes [ReadWriteMany], persistence.existingClaim, or persistence.enabled false (an emptyDir: a retried pod re-runs jobs whose files are gone)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* True when the data volume is a claim that only one node can mount at a time (ReadWriteOnce). */}}
{{- define "aetherflow.colocate" -}}
{{- if and .Values.persistence.enabled (has "ReadWriteOnce" .Values.persistence.accessModes) }}true{{- end }}
{{- end }}

{{/* Labels that select the release's runner pods (CronJob pods, manual Jobs and the NOTES debug pod). */}}
{{- define "aetherflow.runnerSelector" -}}
{{- $labels := fromYaml (include "aetherflow.selectorLabels" .) }}
{{- $_ := set $labels "app.kubernetes.io/component" "runner" }}
{{- toYaml $labels }}
{{- end }}

{{/* The same labels as a `kubectl run --labels` argument (k=v,k=v). */}}
{{- define "aetherflow.runnerSelectorArg" -}}
{{- $labels := fromYaml (include "aetherflow.runnerSelector" .) }}
{{- $pairs := list }}
{{- range $key := keys $labels | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $key (get $labels $key)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
Name prefix of a manual Job of a CronJob (NOTES): `<CronJob name, at most 44 characters>-manual`, so with
`-$(date +%s)` the Job name stays within 63 characters and never has the `<CronJob name>-<digits>` form of a
scheduled Job (the runner tells a slot from that form).
*/}}
{{- define "aetherflow.manualJobPrefix" -}}
{{- printf "%s-manual" (trunc 44 . | trimSuffix "-") }}
{{- end }}

{{/*
Affinity of a runner pod: the given affinity (the item's, else the chart's) plus, with a ReadWriteOnce volume, a
required pod-affinity term on the node's hostname selecting the release's runner pods. A pod matching its own term
may start anywhere when no such pod runs; otherwise it joins the node that has the volume attached, so an
overlapping run is refused by the lock instead of waiting for the volume (Multi-Attach). Called with
(dict "root" $ "affinity" <dict>).
*/}}
{{- define "aetherflow.affinity" -}}
{{- $affinity := deepCopy (default dict .affinity) }}
{{- if include "aetherflow.colocate" .root }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (fromYaml (include "aetherflow.runnerSelector" .root))) }}
{{- $podAffinity := default dict $affinity.podAffinity }}
{{- $required := default list $podAffinity.requiredDuringSchedulingIgnoredDuringExecution }}
{{- $_ := set $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" (append $required $term) }}
{{- $_ := set $affinity "podAffinity" $podAffinity }}
{{- end }}
{{- if $affinity }}{{ toYaml $affinity }}{{ end }}
{{- end }}

{{/* Volumes of the runner pod; the helm test pod passes (dict "root" $ "test" true) to get an emptyDir for data. */}}
{{- define "aetherflow.volumes" -}}
{{- $root := .root }}
{{- if include "aetherflow.flowsEnabled" $root }}
- name: flows
  configMap:
    name: {{ include "aetherflow.flowsConfigMapName" $root }}
{{- end }}
{{- if include "aetherflow.profilesEnabled" $root }}
- name: profiles
  secret:
    secretName: {{ include "aetherflow.profilesSecretName" $root }}
{{- end }}
{{- if include "aetherflow.envFilesEnabled" $root }}
- name: env-files
  secret:
    secretName: {{ include "aetherflow.envFilesSecretName" $root }}
{{- end }}
{{- if include "aetherflow.bundleEnabled" $root }}
- name: bundle
  configMap:
    name: {{ include "aetherflow.bundleConfigMapName" $root }}
{{- end }}
{{- if and $root.Values.persistence.enabled (not .test) }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "aetherflow.claimName" $root }}
{{- else }}
- name: data
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir:
    {{- with $root.Values.tmpVolume.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with $root.Values.tmpVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- with $root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "aetherflow.volumeMounts" -}}
{{- $root := .root }}
{{- if include "aetherflow.flowsEnabled" $root }}
- name: flows
  mountPath: {{ include "aetherflow.paths.flows" $root }}
  readOnly: true
{{- end }}
{{- if include "aetherflow.profilesEnabled" $root }}
- name: profiles
  mountPath: {{ include "aetherflow.paths.profiles" $root }}
  readOnly: true
{{- end }}
{{- if include "aetherflow.envFilesEnabled" $root }}
- name: env-files
  mountPath: {{ include "aetherflow.paths.env" $root }}
  readOnly: true
{{- end }}
{{- if include "aetherflow.bundleEnabled" $root }}
- name: bundle
  mountPath: {{ include "aetherflow.paths.bundle" $root }}
  readOnly: true
{{- end }}
- name: data
  mountPath: {{ include "aetherflow.paths.data" $root }}
- name: tmp
  mountPath: /tmp
{{- with $root.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
podFailurePolicy from the exit-code table (codes from aetherflow.errors: FAIL_JOB_EXIT_CODES = INVALID 2 and
PERMANENT 3; the overlap code joins them only when overlapExitCode is 75, since 0 completes the Job; OK 0). Rules are
evaluated in order: an evicted/preempted/drained pod is ignored (not counted), the codes retrying cannot help fail
the Job at once, every other failure counts against backoffLimit.
*/}}
{{- define "aetherflow.podFailurePolicy" -}}
{{- $failJob := list 2 3 }}
{{- if eq (int .Values.overlapExitCode) 75 }}
{{- $failJob = append $failJob 75 }}
{{- end }}
rules:
  - action: Ignore
    onPodConditions:
      - type: DisruptionTarget
        status: "True"
  - action: FailJob
    onExitCodes:
      containerName: aetherflow
      operator: In
      values: {{ $failJob | toJson }}
  - action: Count
    onExitCodes:
      containerName: aetherflow
      operator: NotIn
      values: [0]
{{- end }}
