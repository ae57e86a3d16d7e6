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

// libp2pLayer reports whether a p2p/ package may import imp: anything
// outside this module, and within it only p2p/, ratelimit and internal/.
func libp2pLayer(imp string) bool {
	if !strings.HasPrefix(imp, module+"/") {
		return true
	}
	rest := strings.TrimPrefix(imp, module+"/")
	return strings.HasPrefix(rest, "p2p/") || rest == "ratelimit" || strings.HasPrefix(rest, "internal/")
}
