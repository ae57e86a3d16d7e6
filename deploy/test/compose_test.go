package deploytest

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type composeService struct {
	Image       string            `json:"image"`
	Entrypoint  []string          `json:"entrypoint"`
	Command     []string          `json:"command"`
	Ports       []string          `json:"ports"`
	Profiles    []string          `json:"profiles"`
	Volumes     []string          `json:"volumes"`
	Environment map[string]string `json:"environment"`
	Networks    any               `json:"networks"`
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `json:"services"`
	}
	// Not strict: compose has many keys this test does not model.
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Services
}

// TestComposeFile checks docker/compose.yaml without Docker: every relayd
// command is accepted by `relayd --print-config`, the nodes share one
// identity and mesh secret on the volume the init services fill, announced
// ports are the published ones, mesh addresses are the nodes' own, and
// Prometheus scrapes every node's admin port. interop/compose_test.go runs
// the same commands as a real fleet.
func TestComposeFile(t *testing.T) {
	svcs := loadCompose(t)
	prom, err := os.ReadFile(filepath.Join(repoRoot, "docker", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var identities, secrets, nodeIDs []string
	relays := 0
	for name, s := range svcs {
		if s.Image != "relayd:dev" || len(s.Command) == 0 || s.Command[0] != "serve" {
			continue
		}
		relays++
		t.Run(name, func(t *testing.T) {
			checkArgsAccepted(t, s.Command, nil)
			identities = append(identities, argValues(s.Command, "--identity")...)
			secrets = append(secrets, argValues(s.Command, "--mesh-secret")...)
			nodeIDs = append(nodeIDs, argValues(s.Command, "--node-id")...)
			published := map[string]string{} // "4011/tcp" → "4001/tcp"
			for _, p := range s.Ports {
				spec, proto, _ := strings.Cut(p, "/")
				parts := strings.Split(spec, ":")
				if len(parts) != 3 || parts[0] != "127.0.0.1" {
					t.Errorf("port %q: publish on 127.0.0.1 only (a local fleet)", p)
					continue
				}
				published[parts[1]+"/"+proto] = parts[2] + "/" + proto
			}
			for _, a := range argValues(s.Command, "--announce") {
				m := regexp.MustCompile(`/(tcp|udp)/(\d+)`).FindStringSubmatch(a)
				target, ok := published[m[2]+"/"+m[1]]
				if !ok {
					t.Errorf("--announce %s: port %s/%s is not published", a, m[2], m[1])
					continue
				}
				if !slices.ContainsFunc(argValues(s.Command, "--listen"), func(l string) bool {
					return strings.Contains(l, "/"+m[1]+"/"+strings.TrimSuffix(target, "/"+m[1]))
				}) {
					t.Errorf("--announce %s is published to %s, where nothing listens", a, target)
				}
			}
			if adv := argValues(s.Command, "--mesh-advertise"); len(adv) == 1 {
				host, _, _ := net.SplitHostPort(adv[0])
				if nw, ok := s.Networks.(map[string]any); !ok || !strings.Contains(toJSON(t, nw), `"ipv4_address":"`+host+`"`) {
					t.Errorf("--mesh-advertise %s is not the node's fixed address", adv[0])
				}
			}
			admin := argValues(s.Command, "--admin-listen")
			if len(admin) != 1 {
				t.Fatal("want --admin-listen once (Prometheus scrapes it)")
			}
			_, port, _ := net.SplitHostPort(admin[0])
			if len(s.Profiles) == 0 && !strings.Contains(string(prom), `"`+name+":"+port+`"`) {
				t.Errorf("prometheus.yml does not scrape %s:%s", name, port)
			}
			for _, v := range s.Volumes {
				if strings.HasPrefix(v, "keys:") && !strings.HasSuffix(v, ":ro") {
					t.Errorf("volume %q: the relays only read the shared keys", v)
				}
			}
		})
	}
	if relays < 3 {
		t.Fatalf("want at least 3 relayd nodes, have %d", relays)
	}
	for _, list := range [][]string{identities, secrets} {
		if len(list) != relays || len(slices.Compact(slices.Sorted(slices.Values(list)))) != 1 {
			t.Errorf("want one shared file for every node, got %q", list)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(nodeIDs)))) != relays {
		t.Errorf("node IDs %q are not unique", nodeIDs)
	}
	// The identity service makes the key the nodes use, with relayd itself.
	id := svcs["identity"]
	if !slices.Equal(id.Command, []string{"keygen", "-if-missing", "-o", identities[0]}) {
		t.Errorf("identity service runs %q, want keygen -if-missing -o %s", id.Command, identities[0])
	}
	if _, stderr, err := runRelayd(t, nil, "keygen", "-if-missing", "-o", filepath.Join(t.TempDir(), "k")); err != nil {
		t.Errorf("relayd keygen -if-missing: %v %s", err, stderr)
	}
	if ms := svcs["mesh-secret"]; !strings.Contains(strings.Join(ms.Command, " "), secrets[0]) {
		t.Errorf("mesh-secret service does not write %s", secrets[0])
	}
	// Grafana gets the dashboard from metrics/dashboards, not a copy.
	g := svcs["grafana"]
	if !slices.Contains(g.Volumes, "../metrics/dashboards:/var/lib/grafana/dashboards:ro") {
		t.Errorf("grafana volumes %q do not mount metrics/dashboards", g.Volumes)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(j), " ", "")
}
