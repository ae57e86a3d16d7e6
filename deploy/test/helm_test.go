package deploytest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join(repoRoot, "helm", "relayd")

// kubeVersion is what `helm template` assumes of the cluster: the chart
// needs 1.30 (the preStop sleep action).
const kubeVersion = "1.31.0"

// helm returns the helm binary. Without one the chart tests skip, unless
// CI=true, where a missing tool is a failure (.ci/run installs it).
func helm(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("helm")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm is not on PATH; .ci/run installs it (go install helm.sh/helm/v3/cmd/helm)")
	}
	t.Skip("helm is not on PATH (go install helm.sh/helm/v3/cmd/helm@v3.22.0, or run .ci/run)")
	return ""
}

// valueSet is one way of installing the chart: the default values, or a
// file from helm/relayd/ci.
type valueSet struct {
	name  string
	file  string // "" = defaults
	fleet bool   // Redis configured: mesh and mesh secret expected
}

func valueSets() []valueSet {
	return []valueSet{
		{name: "defaults"},
		{name: "single", file: "single-values.yaml"},
		{name: "fleet-external-redis", file: "fleet-external-redis-values.yaml", fleet: true},
		{name: "acme-proxy", file: "acme-proxy-values.yaml", fleet: true},
		{name: "bundled-redis", file: "bundled-redis-values.yaml", fleet: true},
	}
}

func (vs valueSet) args() []string {
	if vs.file == "" {
		return nil
	}
	return []string{"-f", filepath.Join(chartDir, "ci", vs.file)}
}

func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	// A private HOME-like config, so no user repositories or plugins matter.
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+dir, "HELM_CACHE_HOME="+dir, "HELM_DATA_HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func render(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"template", "relayd", chartDir, "--namespace", "relays", "--kube-version", kubeVersion}, extra...)
	out, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func TestHelmLint(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			args := append([]string{"lint", chartDir, "--strict", "--kube-version", kubeVersion}, vs.args()...)
			if out, stderr, err := runHelm(t, args...); err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
		})
	}
}

// objects is what one render produced, each decoded strictly.
type objects struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	secrets         []*corev1.Secret
	configMaps      []*corev1.ConfigMap
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	serviceMonitors []*serviceMonitor
}

// serviceMonitor mirrors the fields of prometheus-operator's
// monitoring.coreos.com/v1 ServiceMonitor that the chart sets. It is a
// local type because that CRD is not in k8s.io/api and importing
// prometheus-operator for one struct is not worth it; unknown fields still
// fail the decode.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// decodeAll splits helm's output into documents and decodes each strictly
// (unknown or duplicate fields fail) into the type of its kind.
func decodeAll(t *testing.T, manifest string) objects {
	t.Helper()
	var objs objects
	r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var target any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			objs.deployments, target = append(objs.deployments, o), o
		case "v1 Service":
			o := &corev1.Service{}
			objs.services, target = append(objs.services, o), o
		case "v1 Secret":
			o := &corev1.Secret{}
			objs.secrets, target = append(objs.secrets, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			objs.configMaps, target = append(objs.configMaps, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			objs.pdbs, target = append(objs.pdbs, o), o
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			objs.hpas, target = append(objs.hpas, o), o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &serviceMonitor{}
			objs.serviceMonitors, target = append(objs.serviceMonitors, o), o
		default:
			t.Fatalf("unexpected object %s %s in the chart:\n%s", tm.APIVersion, tm.Kind, doc)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Fatalf("strict decode of %s: %v\n%s", tm.Kind, err, doc)
		}
	}
	return objs
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}
