{{- define "fersynth-pipeline.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fersynth-pipeline.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pod that talks to KFP: `fersynth schedule` (recurring run) or `fersynth submit` (one run). */}}
{{- define "fersynth-pipeline.podSpec" -}}
restartPolicy: Never
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
containers:
  - name: fersynth
    image: "{{ .root.Values.image.repository }}:{{ .root.Values.image.tag }}"
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    command: [fersynth]
    args:
      - {{ .command }}
      - --host={{ required "kfp.host is required" .root.Values.kfp.host }}
      - --experiment={{ .root.Values.kfp.experiment }}
      - --config=/etc/fersynth/config.yaml
      {{- if eq .command "schedule" }}
      - --cron={{ .root.Values.schedule.cron }}
      - --job-name={{ .root.Values.schedule.jobName }}
      {{- end }}
    env:
      - name: HOME
        value: /tmp
      - name: FERSYNTH_NO_PROGRESS
        value: "1"
    resources:
      {{- toYaml .root.Values.resources | nindent 6 }}
    securityContext:
      {{- toYaml .root.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/fersynth
        readOnly: true
      - name: tmp
        mountPath: /tmp
volumes:
  - name: config
    configMap:
      name: {{ include "fersynth-pipeline.fullname" .root }}
  - name: tmp
    emptyDir: {}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
