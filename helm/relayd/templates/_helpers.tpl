{{- define "relayd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "relayd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "relayd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "relayd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "relayd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "relayd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* "true" when the pods form a fleet: a shared Redis, hence the mesh. */}}
{{- define "relayd.fleet" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret .Values.redis.bundled.enabled -}}true{{- end -}}
{{- end -}}

{{- define "relayd.identitySecret" -}}
{{- default (printf "%s-identity" (include "relayd.fullname" .)) .Values.identity.existingSecret -}}
{{- end -}}

{{- define "relayd.meshSecret" -}}
{{- default (printf "%s-mesh" (include "relayd.fullname" .)) .Values.mesh.existingSecret -}}
{{- end -}}

{{/* Paths inside the container. deploy/test checks the args against them. */}}
{{- define "relayd.identityPath" -}}/etc/relayd/identity/{{ .Values.identity.secretKey }}{{- end -}}
{{- define "relayd.meshSecretPath" -}}/etc/relayd/mesh/{{ .Values.mesh.secretKey }}{{- end -}}
{{- define "relayd.acmeStorage" -}}/var/lib/relayd/acme{{- end -}}

{{/* The announced multiaddrs, one per line (without /p2p/<id>). */}}
{{- define "relayd.announce" -}}
{{- $v := .Values -}}
{{- if $v.announce.addresses -}}
{{- range $v.announce.addresses }}
{{ . }}
{{- end -}}
{{- else -}}
{{- $base := "" -}}
{{- $host := $v.announce.publicHost -}}
{{- if and (not $host) $v.acme.enabled $v.acme.domains -}}{{- $host = first $v.acme.domains -}}{{- end -}}
{{- $ip := default $v.service.loadBalancerIP $v.announce.publicIP -}}
{{- if $host -}}{{- $base = printf "/dns4/%s" $host -}}
{{- else if and $ip (contains ":" $ip) -}}{{- $base = printf "/ip6/%s" $ip -}}
{{- else if $ip -}}{{- $base = printf "/ip4/%s" $ip -}}
{{- end -}}
{{- if $base }}
{{ $base }}/tcp/{{ $v.relay.port }}
{{- if $v.relay.quic }}
{{ $base }}/udp/{{ $v.relay.port }}/quic-v1
{{- end -}}
{{- /* With ACME, relayd announces /dns4/<domain>/tcp/<port>/wss itself once
     it holds the certificate, so no client is sent there before. */ -}}
{{- if and $v.wss.enabled $host (not $v.acme.enabled) }}
{{ $base }}/tcp/{{ $v.wss.port }}/wss
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* relayd's arguments, one per line (quoted by the caller); every flag as --name=value. */}}
{{- define "relayd.args" -}}
{{- $v := .Values -}}
serve
--identity={{ include "relayd.identityPath" . }}
--listen=/ip4/0.0.0.0/tcp/{{ $v.relay.port }}
{{- if $v.relay.quic }}
--listen=/ip4/0.0.0.0/udp/{{ $v.relay.port }}/quic-v1
{{- end }}
{{- if $v.relay.ipv6 }}
--listen=/ip6/::/tcp/{{ $v.relay.port }}
{{- if $v.relay.quic }}
--listen=/ip6/::/udp/{{ $v.relay.port }}/quic-v1
{{- end }}
{{- end }}
{{- if $v.wss.enabled }}
--listen=/ip4/0.0.0.0/tcp/{{ $v.wss.port }}/wss
{{- end }}
{{- range (include "relayd.announce" . | trim | splitList "\n") }}
{{- if . }}
--announce={{ . }}
{{- end }}
{{- end }}
--admin-listen=0.0.0.0:{{ $v.admin.port }}
--drain-timeout={{ $v.relay.drainTimeoutSeconds }}s
--max-reservations={{ $v.relay.maxReservations }}
--max-circuits={{ $v.relay.maxCircuits }}
--max-conns={{ $v.relay.maxConns }}
--log-level={{ $v.relay.logLevel }}
--log-format={{ $v.relay.logFormat }}
{{- if $v.proxyProtocol.enabled }}
{{- range $v.proxyProtocol.trustedCIDRs }}
--proxy-protocol-trusted={{ . }}
{{- end }}
{{- end }}
{{- if and $v.wss.enabled (not $v.acme.enabled) }}
--tls-cert=/etc/relayd/tls/tls.crt
--tls-key=/etc/relayd/tls/tls.key
{{- end }}
{{- if $v.acme.enabled }}
{{- range $v.acme.domains }}
--acme-domain={{ . }}
{{- end }}
{{- with $v.acme.email }}
--acme-email={{ . }}
{{- end }}
{{- with $v.acme.ca }}
--acme-ca={{ . }}
{{- end }}
{{- if $v.acme.caRoot.existingSecret }}
--acme-ca-root=/etc/relayd/acme-ca/{{ $v.acme.caRoot.secretKey }}
{{- end }}
--acme-storage={{ include "relayd.acmeStorage" . }}
{{- if $v.acme.http01.enabled }}
--acme-http-listen=0.0.0.0:{{ $v.acme.http01.port }}
{{- end }}
{{- end }}
{{- if include "relayd.fleet" . }}
{{- if $v.redis.url }}
--redis={{ $v.redis.url }}
{{- else if $v.redis.bundled.enabled }}
--redis=redis://{{ include "relayd.fullname" . }}-redis:6379/0
{{- end }}
{{- with $v.redis.sentinelMaster }}
--redis-sentinel-master={{ . }}
{{- end }}
{{- with $v.redis.prefix }}
--redis-prefix={{ . }}
{{- end }}
{{- with $v.redis.unavailable }}
--redis-unavailable={{ . }}
{{- end }}
--node-id=$(POD_NAME)
--mesh-listen=0.0.0.0:{{ $v.mesh.port }}
--mesh-advertise=$(POD_IP):{{ $v.mesh.port }}
--mesh-secret={{ include "relayd.meshSecretPath" . }}
{{- end }}
{{- range $v.relay.extraArgs }}
{{ . }}
{{- end }}
{{- end -}}

{{/* Combinations the schema cannot express; each fails the render. */}}
{{- define "relayd.validate" -}}
{{- $v := .Values -}}
{{- if and (not (include "relayd.fleet" .)) (or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled) -}}
{{- fail "replicaCount > 1 and autoscaling need Redis (redis.url, redis.existingSecret or redis.bundled.enabled): the pods share one identity and must share reservations" -}}
{{- end -}}
{{- if and $v.redis.url $v.redis.existingSecret -}}
{{- fail "set redis.url or redis.existingSecret, not both" -}}
{{- end -}}
{{- if and $v.redis.bundled.enabled (or $v.redis.url $v.redis.existingSecret) -}}
{{- fail "redis.bundled.enabled and an external Redis (redis.url, redis.existingSecret) exclude each other" -}}
{{- end -}}
{{- if and $v.wss.enabled (not $v.acme.enabled) (not $v.wss.tls.existingSecret) -}}
{{- fail "wss.enabled needs acme.enabled or wss.tls.existingSecret" -}}
{{- end -}}
{{- if and $v.acme.enabled (not $v.wss.enabled) -}}
{{- fail "acme.enabled needs wss.enabled: the certificate is for the WSS listener" -}}
{{- end -}}
{{- if and $v.acme.enabled (not $v.acme.domains) -}}
{{- fail "acme.enabled needs at least one acme.domains entry" -}}
{{- end -}}
{{- if and $v.proxyProtocol.enabled (not $v.proxyProtocol.trustedCIDRs) -}}
{{- fail "proxyProtocol.enabled needs proxyProtocol.trustedCIDRs (the load balancer's source ranges)" -}}
{{- end -}}
{{- if and $v.proxyProtocol.enabled $v.acme.http01.enabled -}}
{{- fail "acme.http01 does not read PROXY headers; with proxyProtocol.enabled use TLS-ALPN-01 (the default)" -}}
{{- end -}}
{{- end -}}

{{/* The lowest port relayd binds, for the unprivileged-port sysctl. */}}
{{- define "relayd.lowestPort" -}}
{{- $v := .Values -}}
{{- $ports := list (int $v.relay.port) (int $v.admin.port) -}}
{{- if $v.wss.enabled }}{{ $ports = append $ports (int $v.wss.port) }}{{ end -}}
{{- if and $v.acme.enabled $v.acme.http01.enabled }}{{ $ports = append $ports (int $v.acme.http01.port) }}{{ end -}}
{{- if include "relayd.fleet" . }}{{ $ports = append $ports (int $v.mesh.port) }}{{ end -}}
{{- $min := 65535 -}}
{{- range $ports }}{{ if lt . $min }}{{ $min = . }}{{ end }}{{ end -}}
{{- $min -}}
{{- end -}}

{{/* Selects the relayd pods (not the bundled Redis). */}}
{{- define "relayd.podSelector" -}}
{{ include "relayd.selectorLabels" . }}
app.kubernetes.io/component: relay
{{- end -}}
