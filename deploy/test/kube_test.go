package deploytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKube is a stand-in for a Kubernetes API server, just enough for
// `helm install --dry-run=server`: version, discovery of the kinds the
// chart renders, and GET of single objects from a fixed set (everything
// else is 404). It is a mock because no real API server can run on these
// machines; it lets the tests see NOTES.txt and what `lookup` does with
// Secrets that already exist, the two things `helm template` cannot show.
func fakeKube(t *testing.T, objects map[string]any) (kubeconfig string) {
	t.Helper()
	groups := map[string][]string{
		"v1":                       {"Secret:secrets", "Service:services", "ConfigMap:configmaps"},
		"apps/v1":                  {"Deployment:deployments"},
		"policy/v1":                {"PodDisruptionBudget:poddisruptionbudgets"},
		"autoscaling/v2":           {"HorizontalPodAutoscaler:horizontalpodautoscalers"},
		"monitoring.coreos.com/v1": {"ServiceMonitor:servicemonitors"},
	}
	write := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/version":
			write(w, map[string]string{"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
		case p == "/api":
			write(w, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}})
		case p == "/apis":
			var gs []any
			for gv := range groups {
				if g, v, ok := strings.Cut(gv, "/"); ok {
					ver := map[string]string{"groupVersion": gv, "version": v}
					gs = append(gs, map[string]any{"name": g, "versions": []any{ver}, "preferredVersion": ver})
				}
			}
			write(w, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
		case groups[strings.TrimPrefix(strings.TrimPrefix(p, "/api/"), "/apis/")] != nil:
			gv := strings.TrimPrefix(strings.TrimPrefix(p, "/api/"), "/apis/")
			var rs []any
			for _, k := range groups[gv] {
				kind, plural, _ := strings.Cut(k, ":")
				rs = append(rs, map[string]any{"name": plural, "namespaced": true, "kind": kind, "verbs": []string{"get", "list", "create"}})
			}
			write(w, map[string]any{"kind": "APIResourceList", "groupVersion": gv, "resources": rs})
		case r.Method == http.MethodGet && objects[p] != nil:
			write(w, objects[p])
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			write(w, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
		}
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
contexts: [{name: fake, context: {cluster: fake, namespace: relays}}]
current-context: fake
users: []
`, srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// installDryRun renders the chart as `helm install` would against the fake
// API server holding objects (path → object), and returns helm's output:
// the manifest, then NOTES.
func installDryRun(t *testing.T, objects map[string]any, values ...string) string {
	t.Helper()
	args := []string{"install", "relayd", chartDir, "--kubeconfig", fakeKube(t, objects),
		"--namespace", "relays", "--dry-run=server", "--disable-openapi-validation"}
	out, stderr, err := runHelm(t, append(args, values...)...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestChartKeepsSecrets: with the identity and mesh Secrets already in the
// cluster (a second install or an upgrade), the chart writes their data
// back unchanged instead of generating new ones.
func TestChartKeepsSecrets(t *testing.T) {
	// As a previous install left them: owned by the release.
	existing := func(name, key, value string) map[string]any {
		return map[string]any{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{
				"name": name, "namespace": "relays",
				"labels":      map[string]string{"app.kubernetes.io/managed-by": "Helm"},
				"annotations": map[string]string{"meta.helm.sh/release-name": "relayd", "meta.helm.sh/release-namespace": "relays"},
			},
			"data": map[string]string{key: value},
		}
	}
	const idData, meshData = "ZXhpc3RpbmcgaWRlbnRpdHk=", "ZXhpc3RpbmcgbWVzaA=="
	objects := map[string]any{
		"/api/v1/namespaces/relays/secrets/relayd-identity": existing("relayd-identity", "identity.key", idData),
		"/api/v1/namespaces/relays/secrets/relayd-mesh":     existing("relayd-mesh", "mesh.secret", meshData),
	}
	out := installDryRun(t, objects, "-f", filepath.Join(chartDir, "ci", "fleet-external-redis-values.yaml"))
	manifest, _, _ := strings.Cut(out, "NOTES:")
	objs := decodeAll(t, manifest[strings.Index(manifest, "---"):])
	got := map[string]string{}
	for _, s := range objs.secrets {
		for k, v := range s.Data {
			got[s.Name+"/"+k] = string(v)
		}
	}
	if got["relayd-identity/identity.key"] != "existing identity" {
		t.Errorf("identity Secret rotated: %q", got["relayd-identity/identity.key"])
	}
	if got["relayd-mesh/mesh.secret"] != "existing mesh" {
		t.Errorf("mesh Secret rotated: %q", got["relayd-mesh/mesh.secret"])
	}

	// And without them, fresh ones are made.
	out = installDryRun(t, nil, "-f", filepath.Join(chartDir, "ci", "fleet-external-redis-values.yaml"))
	if strings.Contains(out, idData) || strings.Contains(out, meshData) {
		t.Error("a first install reused data it cannot have seen")
	}
}
