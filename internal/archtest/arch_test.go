package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/relayd/relayd"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list over the main module (interop/ is its own
// module and is not included).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestArchitecture(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, d := range p.Deps {
			// go-libp2p is the independent judge in interop/, never a
			// dependency of relayd itself.
			if strings.HasPrefix(d, "github.com/libp2p/go-libp2p") {
				t.Errorf("%s depends on %s", p.ImportPath, d)
			}
		}
		for _, imp := range p.Imports {
			if imp == "math/rand" || imp == "math/rand/v2" {
				t.Errorf("%s imports %s: use crypto/rand", p.ImportPath, imp)
			}
			if strings.HasPrefix(p.ImportPath, module+"/p2p/") && !libp2pLayer(imp) {
				t.Errorf("%s (libp2p layer) imports %s: nothing in p2p/ knows about relaying", p.ImportPath, imp)
			}
		}
	}
}

// layers is DESIGN's layer order, bottom up, by top-level directory: a
// package may import packages of a lower layer and of its own directory
// (p2p/host → p2p/noise, circuit → circuit/wire), never one beside or
// above it. internal/ is below everything.
var layers = [][]string{
	{"internal"},
	{"ratelimit"},
	{"p2p"},
	{"limiter", "reservation"},
	{"circuit", "dcutr", "fleet"},
	{"metrics", "tlsacme", "mesh", "probe"},
	{"relay"},
	{"cmd"},
}

// layerOf is the layer and directory of a package path inside the module;
// ok is false for a directory the table does not know.
func layerOf(path string) (layer int, dir string, ok bool) {
	dir, _, _ = strings.Cut(strings.TrimPrefix(path, module+"/"), "/")
	for i, l := range layers {
		for _, d := range l {
			if d == dir {
				return i, dir, true
			}
		}
	}
	return 0, dir, false
}

func TestLayerOrder(t *testing.T) {
	for _, p := range listPackages(t) {
		pl, pdir, ok := layerOf(p.ImportPath)
		if !ok {
			t.Errorf("%s: directory %q is in no layer: add it to layers (and to DESIGN)", p.ImportPath, pdir)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			il, idir, ok := layerOf(imp)
			if !ok || idir == pdir {
				continue // an unknown directory is reported as a package
			}
			if il >= pl {
				t.Errorf("%s imports %s: %s is not below %s in DESIGN's layer order", p.ImportPath, imp, idir, pdir)
			}
		}
	}
}

func TestLayerOf(t *testing.T) {
	for path, want := range map[string]int{
		module + "/internal/leakcheck": 0,
		module + "/ratelimit":          1,
		module + "/p2p/host":           2,
		module + "/limiter":            3,
		module + "/reservation":        3,
		module + "/circuit/wire":       4,
		module + "/metrics":            5,
		module + "/relay":              6,
		module + "/cmd/relayd":         7,
	} {
		if got, _, ok := layerOf(path); !ok || got != want {
			t.Errorf("layerOf(%s) = %d, %v; want %d", path, got, ok, want)
		}
	}
}

// libp2pLayer reports whether a p2p/ package may import imp: anything
// outside this module, and within it only p2p/, ratelimit and internal/.
func libp2pLayer(imp string) bool {
	if !strings.HasPrefix(imp, module+"/") {
		return true
	}
	rest := strings.TrimPrefix(imp, module+"/")
	return strings.HasPrefix(rest, "p2p/") || rest == "ratelimit" || strings.HasPrefix(rest, "internal/")
}
