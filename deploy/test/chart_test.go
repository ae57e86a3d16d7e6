package deploytest

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestChart renders the chart for every value set and checks what a
// cluster would run against what relayd accepts and serves.
func TestChart(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, vs.args()...))
			if len(objs.deployments) == 0 {
				t.Fatal("no Deployment rendered")
			}
			dep := relayDeployment(t, objs)
			c := relayContainer(t, dep)
			args := expandArgs(t, c)
			printed := checkArgsAccepted(t, args, containerEnv(t, c))

			checkProbes(t, c, args)
			checkSecurity(t, dep, c)
			checkLifecycle(t, dep, c, args)
			checkSecretMount(t, objs, dep, c, args, "identity", "--identity", true)
			checkSecretMount(t, objs, dep, c, args, "mesh", "--mesh-secret", vs.fleet)
			checkServices(t, objs, dep, c, args, vs.fleet)
			checkSelectors(t, objs, dep)
			checkDashboard(t, objs)
			checkIdentityKeyLoads(t, objs)
			if !strings.Contains(printed, "admin_listen:") {
				t.Errorf("--print-config output lacks admin_listen:\n%s", printed)
			}
		})
	}
}

func relayDeployment(t *testing.T, objs objects) *appsv1.Deployment {
	t.Helper()
	for _, d := range objs.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == "relay" {
			return d
		}
	}
	t.Fatal("no Deployment with component=relay")
	return nil
}

func relayContainer(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "relayd" {
		t.Fatalf("want one container named relayd, got %d", len(cs))
	}
	if len(cs[0].Command) != 0 {
		t.Errorf("command %q overrides the image's /relayd entrypoint", cs[0].Command)
	}
	return &cs[0]
}

// podEnvStandIns are what Kubernetes substitutes for $(VAR) in args.
var podEnvStandIns = map[string]string{"POD_NAME": "relayd-7f9c-abcde", "POD_IP": "10.1.2.3"}

var envRef = regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`)

// expandArgs does Kubernetes' $(VAR) expansion of the container args; a
// reference to a variable the container does not define is an error
// (Kubernetes would pass it through literally).
func expandArgs(t *testing.T, c *corev1.Container) []string {
	t.Helper()
	defined := map[string]bool{}
	for _, e := range c.Env {
		defined[e.Name] = true
	}
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = envRef.ReplaceAllStringFunc(a, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v, ok := podEnvStandIns[name]
			if !defined[name] || !ok {
				t.Errorf("arg %q refers to $(%s), which the container does not define", a, name)
			}
			return v
		})
	}
	return out
}

// containerEnv is the RELAYD_* environment relayd would see; values from
// Secrets get a stand-in of the right shape.
func containerEnv(t *testing.T, c *corev1.Container) []string {
	t.Helper()
	var env []string
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "RELAYD_") {
			continue
		}
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			stand := map[string]string{"RELAYD_REDIS": "redis://:password@10.0.0.9:6379/0"}[e.Name]
			if stand == "" {
				t.Fatalf("no stand-in value for %s from a Secret", e.Name)
			}
			v = stand
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// argValues returns every value of flag (as --flag=value) in args.
func argValues(args []string, flag string) []string {
	var vs []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	vs := argValues(args, flag)
	if len(vs) != 1 {
		t.Fatalf("want %s exactly once in %q, got %d", flag, args, len(vs))
	}
	return vs[0]
}

func containerPort(t *testing.T, c *corev1.Container, name string) corev1.ContainerPort {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("container has no port named %q", name)
	return corev1.ContainerPort{}
}

// resolvePort turns a probe's or Service's port (name or number) into the
// container port it reaches.
func resolvePort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.String {
		return containerPort(t, c, p.StrVal).ContainerPort
	}
	return p.IntVal
}

func checkProbes(t *testing.T, c *corev1.Container, args []string) {
	t.Helper()
	_, adminPort, err := net.SplitHostPort(argValue(t, args, "--admin-listen"))
	if err != nil {
		t.Fatal(err)
	}
	probes := []struct {
		name string
		p    *corev1.Probe
		path string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	}
	for _, pr := range probes {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s probe: want an httpGet probe", pr.name)
			continue
		}
		g := pr.p.HTTPGet
		if g.Path != pr.path {
			t.Errorf("%s probe path %q, want %q", pr.name, g.Path, pr.path)
		}
		if got := strconv.Itoa(int(resolvePort(t, c, g.Port))); got != adminPort {
			t.Errorf("%s probe port %s, but --admin-listen serves %s", pr.name, got, adminPort)
		}
	}
}

func checkSecurity(t *testing.T, d *appsv1.Deployment, c *corev1.Container) {
	t.Helper()
	checkLowPorts(t, d, c)
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want runAsNonRoot and a non-zero runAsUser", ps)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no security context")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the relay needs no API access, but a service account token is mounted")
	}
	r := c.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", r)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
}

// checkLifecycle: the pod's grace period covers the preStop sleep and the
// whole --drain-timeout, so Kubernetes never SIGKILLs a drain relayd would
// finish by itself.
func checkLifecycle(t *testing.T, d *appsv1.Deployment, c *corev1.Container, args []string) {
	t.Helper()
	drain, err := time.ParseDuration(argValue(t, args, "--drain-timeout"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep (the image has no shell for an exec hook)")
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace < sleep+drain+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + --drain-timeout %v + 5s", grace, sleep, drain)
	}
	if grace > sleep+drain+30*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v is far above preStop %v + --drain-timeout %v", grace, sleep, drain)
	}
}

// checkSecretMount: the file a flag names is a key of a Secret volume, the
// Secret is rendered (or named by the user), and it has that key.
func checkSecretMount(t *testing.T, objs objects, d *appsv1.Deployment, c *corev1.Container, args []string, volume, flag string, want bool) {
	t.Helper()
	vals := argValues(args, flag)
	if !want {
		if len(vals) > 0 {
			t.Errorf("%s set without a fleet", flag)
		}
		return
	}
	if len(vals) != 1 {
		t.Fatalf("want %s once, got %q", flag, vals)
	}
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == volume {
			mount = &c.VolumeMounts[i]
		}
	}
	var vol *corev1.Volume
	for i := range d.Spec.Template.Spec.Volumes {
		if d.Spec.Template.Spec.Volumes[i].Name == volume {
			vol = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if mount == nil || vol == nil || vol.Secret == nil {
		t.Fatalf("%s: no Secret volume %q mounted", flag, volume)
	}
	if !mount.ReadOnly {
		t.Errorf("%s mount is writable", volume)
	}
	dir, file := filepath.Split(vals[0])
	if filepath.Clean(dir) != filepath.Clean(mount.MountPath) {
		t.Errorf("%s=%s is not in the %s mount %s", flag, vals[0], volume, mount.MountPath)
	}
	key := file
	if len(vol.Secret.Items) > 0 {
		key = ""
		for _, it := range vol.Secret.Items {
			if it.Path == file {
				key = it.Key
			}
		}
		if key == "" {
			t.Fatalf("%s=%s: no item of Secret volume %q has path %s", flag, vals[0], volume, file)
		}
	}
	if m := vol.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
		t.Errorf("%s Secret volume mode %v: readable by others", volume, m)
	}
	for _, s := range objs.secrets {
		if s.Name == vol.Secret.SecretName {
			if len(s.Data[key]) == 0 {
				t.Errorf("Secret %s has no key %s for %s", s.Name, key, flag)
			}
			if s.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Errorf("Secret %s is deleted on uninstall; the peer ID would change on reinstall", s.Name)
			}
			return
		}
	}
	t.Logf("%s comes from Secret %s, which the user supplies", flag, vol.Secret.SecretName)
}

// listenPort is one --listen address reduced to what a Service forwards.
type listenPort struct {
	proto corev1.Protocol
	port  int32
}

var listenRe = regexp.MustCompile(`^/ip[46]/[^/]+/(tcp|udp)/(\d+)(/.*)?$`)

func checkServices(t *testing.T, objs objects, d *appsv1.Deployment, c *corev1.Container, args []string, fleet bool) {
	t.Helper()
	listens := map[listenPort]bool{}
	for _, l := range argValues(args, "--listen") {
		m := listenRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected --listen %q", l)
		}
		port, _ := strconv.Atoi(m[2])
		listens[listenPort{corev1.Protocol(strings.ToUpper(m[1])), int32(port)}] = true
	}
	if h := argValues(args, "--acme-http-listen"); len(h) == 1 {
		_, p, _ := net.SplitHostPort(h[0])
		port, _ := strconv.Atoi(p)
		listens[listenPort{corev1.ProtocolTCP, int32(port)}] = true
	}
	var public, headless *corev1.Service
	for _, s := range objs.services {
		switch {
		case s.Spec.Type == corev1.ServiceTypeLoadBalancer:
			public = s
		case s.Spec.ClusterIP == corev1.ClusterIPNone:
			headless = s
		}
	}
	if public == nil || headless == nil {
		t.Fatal("want a LoadBalancer Service and a headless Service")
	}
	if public.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("externalTrafficPolicy %q, want Local", public.Spec.ExternalTrafficPolicy)
	}
	served := map[listenPort]bool{}
	publicPorts := map[listenPort]bool{}
	for _, p := range public.Spec.Ports {
		cp := resolvePort(t, c, p.TargetPort)
		// relayd announces ACME names with the port it binds, so the
		// public port must be the same number.
		if cp != p.Port {
			t.Errorf("Service port %s is %d but reaches container port %d", p.Name, p.Port, cp)
		}
		lp := listenPort{p.Protocol, cp}
		if !listens[lp] {
			t.Errorf("Service port %s (%s %d → %d) reaches no --listen address", p.Name, p.Protocol, p.Port, cp)
		}
		served[lp] = true
		publicPorts[listenPort{p.Protocol, p.Port}] = true
	}
	for lp := range listens {
		if !served[lp] {
			t.Errorf("--listen %s %d is not on the public Service", lp.proto, lp.port)
		}
	}
	// TCP and UDP on one port, so one multiaddr port serves TCP and QUIC.
	if tcp, udp := containerPort(t, c, "relay-tcp"), c.Ports; slices.ContainsFunc(udp, func(p corev1.ContainerPort) bool { return p.Name == "relay-udp" }) {
		if containerPort(t, c, "relay-udp").ContainerPort != tcp.ContainerPort {
			t.Error("relay TCP and UDP ports differ")
		}
	}
	// Announced addresses name ports the public Service has.
	for _, a := range argValues(args, "--announce") {
		m := regexp.MustCompile(`/(tcp|udp)/(\d+)`).FindStringSubmatch(a)
		port, _ := strconv.Atoi(m[2])
		if !publicPorts[listenPort{corev1.Protocol(strings.ToUpper(m[1])), int32(port)}] {
			t.Errorf("--announce %s names a port the public Service does not have", a)
		}
	}
	hp := map[string]int32{}
	for _, p := range headless.Spec.Ports {
		hp[p.Name] = resolvePort(t, c, p.TargetPort)
	}
	if _, ok := hp["admin"]; !ok {
		t.Error("headless Service has no admin port for Prometheus")
	}
	if !fleet {
		return
	}
	_, mp, _ := net.SplitHostPort(argValue(t, args, "--mesh-listen"))
	_, ap, _ := net.SplitHostPort(argValue(t, args, "--mesh-advertise"))
	if strconv.Itoa(int(hp["mesh"])) != mp || mp != ap {
		t.Errorf("headless mesh port %d, --mesh-listen port %s, --mesh-advertise port %s: want one port", hp["mesh"], mp, ap)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Error("headless Service drops draining pods, whose mesh links still carry circuits")
	}
}

func checkSelectors(t *testing.T, objs objects, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if pod[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	for _, s := range objs.services {
		if s.Labels["app.kubernetes.io/component"] == "redis-not-for-production" {
			continue
		}
		if !matches(s.Spec.Selector) {
			t.Errorf("Service %s selector %v does not select the relay pods %v", s.Name, s.Spec.Selector, pod)
		}
	}
	for _, o := range objs.deployments {
		if o != d && matches(o.Spec.Template.Labels) {
			t.Errorf("Deployment %s's pods carry the relay's labels", o.Name)
		}
	}
	for _, p := range objs.pdbs {
		if !matches(p.Spec.Selector.MatchLabels) {
			t.Errorf("PDB selector %v misses the relay pods", p.Spec.Selector.MatchLabels)
		}
	}
	for _, h := range objs.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
			t.Errorf("HPA targets %+v", h.Spec.ScaleTargetRef)
		}
		if d.Spec.Replicas != nil {
			t.Error("HPA and a fixed replicas field fight over the Deployment")
		}
	}
	for _, sm := range objs.serviceMonitors {
		found := false
		for _, s := range objs.services {
			ok := len(sm.Spec.Selector.MatchLabels) > 0
			for k, v := range sm.Spec.Selector.MatchLabels {
				ok = ok && s.Labels[k] == v
			}
			if ok {
				found = slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port })
			}
		}
		if !found || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor %s selects no Service with port %q serving /metrics", sm.Name, sm.Spec.Endpoints[0].Port)
		}
	}
}

func checkDashboard(t *testing.T, objs objects) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(repoRoot, "metrics", "dashboards", "relayd.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range objs.configMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("dashboard ConfigMap %s lacks the Grafana sidecar label", cm.Name)
		}
		if strings.TrimSpace(cm.Data["relayd.json"]) != strings.TrimSpace(string(want)) {
			t.Errorf("ConfigMap %s differs from metrics/dashboards/relayd.json", cm.Name)
		}
		return
	}
	t.Error("no dashboard ConfigMap")
}

// checkIdentityKeyLoads hands the generated identity Secret to relayd: the
// key Helm made (genPrivateKey "ed25519") must be one relayd loads.
func checkIdentityKeyLoads(t *testing.T, objs objects) {
	t.Helper()
	for _, s := range objs.secrets {
		data, ok := s.Data["identity.key"]
		if !ok {
			continue
		}
		path := filepath.Join(t.TempDir(), "identity.key")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := runRelayd(t, nil, "keygen", "-if-missing", "-o", path)
		if err != nil || !strings.HasPrefix(out, "12D3KooW") {
			t.Errorf("relayd cannot load the identity Secret %s: %v %s%s", s.Name, err, out, stderr)
		}
	}
}

// TestChartNotes: NOTES.txt shows the addresses and how to get the peer ID.
func TestChartNotes(t *testing.T) {
	out := installDryRun(t, nil, "-f", filepath.Join(chartDir, "ci", "single-values.yaml"))
	_, notes, _ := strings.Cut(out, "NOTES:")
	for _, want := range []string{
		"/ip4/203.0.113.7/tcp/4001/p2p/<peer ID>",
		"/ip4/203.0.113.7/udp/4001/quic-v1/p2p/<peer ID>",
		"/relayd keygen -if-missing -o /etc/relayd/identity/identity.key",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
}

// TestChartValuesDocumented: every value in values.yaml has a comment right
// above it or above one of its parent keys (so resources.requests.cpu is
// covered by resources' comment), and every value is in the schema.
func TestChartValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	keyRe := regexp.MustCompile(`^(\s*)([A-Za-z0-9_]+):\s*(\S?)`)
	commented := func(i int) bool { return i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") }
	type key struct {
		indent int
		doc    bool
	}
	var stack []key // the parents of the current line
	for i, l := range lines {
		m := keyRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		doc := commented(i) || slices.ContainsFunc(stack, func(k key) bool { return k.doc })
		if m[3] == "" { // a group: its keys are checked instead
			stack = append(stack, key{indent, doc})
			continue
		}
		if !doc {
			t.Errorf("values.yaml:%d: %s has no comment", i+1, strings.TrimSpace(l))
		}
	}
	var schema map[string]any
	sraw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(sraw, &schema); err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	checkInSchema(t, "", values, schema)
}

func checkInSchema(t *testing.T, path string, v any, schema map[string]any) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	if props == nil {
		return // a free-form map (annotations, resources)
	}
	for k, sub := range m {
		ps, ok := props[k].(map[string]any)
		if !ok {
			t.Errorf("values.yaml %s%s is not in values.schema.json", path, k)
			continue
		}
		checkInSchema(t, path+k+".", sub, ps)
	}
}

// checkLowPorts: with every capability dropped, a non-root process binds a
// port below 1024 only where the pod lowers net.ipv4.ip_unprivileged_port_start.
func checkLowPorts(t *testing.T, d *appsv1.Deployment, c *corev1.Container) {
	t.Helper()
	start := int32(1024)
	if ps := d.Spec.Template.Spec.SecurityContext; ps != nil {
		for _, s := range ps.Sysctls {
			if s.Name == "net.ipv4.ip_unprivileged_port_start" {
				n, err := strconv.Atoi(s.Value)
				if err != nil {
					t.Fatalf("sysctl %s=%q", s.Name, s.Value)
				}
				start = int32(n)
			}
		}
	}
	for _, p := range c.Ports {
		if p.ContainerPort < start {
			t.Errorf("container port %s (%d) is below ip_unprivileged_port_start %d: a non-root relayd cannot bind it", p.Name, p.ContainerPort, start)
		}
	}
}
