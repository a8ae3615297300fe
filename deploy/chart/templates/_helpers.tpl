{{/*
extctl keeps its state ConfigMap, digest-key Secret and Lease in the system namespace extctl-system,
so the chart installs there: helm install extctl deploy/chart --namespace extctl-system --create-namespace
*/}}
{{- define "extctl.systemNamespace" -}}extctl-system{{- end -}}

{{- define "extctl.checkNamespace" -}}
{{- if ne .Release.Namespace (include "extctl.systemNamespace" .) -}}
{{- fail (printf "extctl: install this chart into the namespace %s (its state, digest key and Lease live there), not %q: add --namespace %s --create-namespace" (include "extctl.systemNamespace" .) .Release.Namespace (include "extctl.systemNamespace" .)) -}}
{{- end -}}
{{- end -}}

{{- define "extctl.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name alone when it already names extctl (helm install extctl …), else release-extctl. */}}
{{- define "extctl.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "extctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "extctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "extctl.labels" -}}
{{ include "extctl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: extctl
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "extctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "extctl.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "extctl.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the referenced Secrets and ConfigMaps are mounted (read-only). */}}
{{- define "extctl.gitSecretDir" -}}/var/run/secrets/extctl/git{{- end -}}
{{- define "extctl.webhookSecretDir" -}}/var/run/secrets/extctl/webhook{{- end -}}
{{- define "extctl.knownHostsDir" -}}/etc/extctl/ssh{{- end -}}
{{- define "extctl.repositoriesDir" -}}/etc/extctl/repositories{{- end -}}
