{{/*
Labels Helm adds to every object of the release, beside those the objects carry in manifests/
(test/e2e/helm.test.ts ignores exactly these when it compares the two).
*/}}
{{- define "wno.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The label the Deployment selects its pods by, and the Services and ServiceMonitor select by. */}}
{{- define "wno.selectorLabels" -}}
app.kubernetes.io/name: workspace-nats-operator
{{- end }}

{{/* The operator's ServiceAccount as an RBAC subject. */}}
{{- define "wno.subject" -}}
- kind: ServiceAccount
  name: workspace-nats-operator
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* Where the Deployment mounts cert-manager's certificate (--webhook-cert-dir). */}}
{{- define "wno.webhookCertDir" -}}
/etc/webhook-tls
{{- end }}
