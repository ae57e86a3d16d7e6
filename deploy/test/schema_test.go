package deploytest

import (
	"strings"
	"testing"
)

// TestChartRejectsBadValues: values.schema.json and the chart's own checks
// stop a bad install before anything reaches the cluster, with a message
// that names the value.
func TestChartRejectsBadValues(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string // in helm's error output
	}{
		// values.schema.json
		{"zero replicas", []string{"replicaCount=0"}, "at '/replicaCount'"},
		{"unknown key", []string{"relay.maxReservation=10"}, "additional properties 'maxReservation' not allowed"},
		{"port out of range", []string{"relay.port=70000"}, "at '/relay/port'"},
		{"traffic policy", []string{"service.externalTrafficPolicy=Everywhere"}, "at '/service/externalTrafficPolicy'"},
		{"service type", []string{"service.type=ClusterIP"}, "at '/service/type'"},
		{"redis scheme", []string{"redis.url=http://redis:6379"}, "at '/redis/url'"},
		{"redis-unavailable", []string{"redis.unavailable=ignore"}, "at '/redis/unavailable'"},
		{"log level", []string{"relay.logLevel=verbose"}, "at '/relay/logLevel'"},
		{"domain", []string{"acme.domains={relay example.com}"}, "at '/acme/domains/0'"},
		{"acme ca not https", []string{"acme.ca=http://ca.example/dir"}, "at '/acme/ca'"},
		{"cidr", []string{"proxyProtocol.trustedCIDRs={load-balancer}"}, "at '/proxyProtocol/trustedCIDRs/0'"},
		{"negative drain", []string{"relay.drainTimeoutSeconds=-1"}, "at '/relay/drainTimeoutSeconds'"},
		{"extra arg not a flag", []string{"relay.extraArgs={rm -rf}"}, "at '/relay/extraArgs/0'"},
		{"wss port zero", []string{"wss.port=0"}, "at '/wss/port'"},
		{"old containerPort value", []string{"wss.containerPort=8443"}, "additional properties 'containerPort' not allowed"},
		// the templates' checks of combinations
		{"fleet without redis", []string{"replicaCount=3"}, "need Redis"},
		{"autoscaling without redis", []string{"autoscaling.enabled=true"}, "need Redis"},
		{"two redis sources", []string{"redis.url=redis://r:6379", "redis.bundled.enabled=true"}, "exclude each other"},
		{"wss without a certificate", []string{"wss.enabled=true"}, "wss.enabled needs"},
		{"acme without wss", []string{"acme.enabled=true", "acme.domains={relay.example.com}"}, "acme.enabled needs wss.enabled"},
		{"acme without domains", []string{"acme.enabled=true", "wss.enabled=true"}, "acme.domains"},
		{"proxy protocol without sources", []string{"proxyProtocol.enabled=true"}, "trustedCIDRs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", "relayd", chartDir, "--kube-version", kubeVersion}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, stderr, err := runHelm(t, args...)
			if err == nil {
				t.Fatalf("helm template --set %v succeeded; want it refused\n%.300s", tt.set, out)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("error does not name %q:\n%s", tt.want, stderr)
			}
		})
	}
}
