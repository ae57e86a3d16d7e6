package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// repoRoot is relayd's repository, two levels above this module.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

var (
	buildOnce sync.Once
	relaydBin string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// relayd builds relayd from the repository root once per test binary, or
// uses $RELAYD_BIN (a relayd built elsewhere, e.g. from a branch whose
// flags the deployment files use before they are merged).
func relayd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("RELAYD_BIN"); p != "" {
			relaydBin = p
			return
		}
		relaydBin = filepath.Join(binDir, "relayd")
		cmd := exec.Command("go", "build", "-o", relaydBin, "./cmd/relayd")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/relayd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return relaydBin
}

// runRelayd runs the binary with only PATH and HOME in its environment, so
// no RELAYD_* variable of the caller leaks in; env adds variables.
func runRelayd(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(relayd(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

var (
	knownOnce  sync.Once
	knownFlags map[string]bool
)

var helpFlag = regexp.MustCompile(`(?m)^  --([a-z][-a-z0-9]*)`)

// relaydFlags are the serve flags `relayd help` lists.
func relaydFlags(t *testing.T) map[string]bool {
	t.Helper()
	knownOnce.Do(func() {
		out, _, err := runRelayd(t, nil, "help")
		if err != nil {
			t.Fatalf("relayd help: %v", err)
		}
		knownFlags = map[string]bool{}
		for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
			knownFlags[m[1]] = true
		}
	})
	if len(knownFlags) < 10 {
		t.Fatalf("relayd help lists only %d flags; the help format changed?", len(knownFlags))
	}
	return knownFlags
}

func flagOf(arg string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}

// checkArgsAccepted runs `relayd <args> --print-config` with env and fails
// the test unless every flag is one relayd knows and it exits 0; the YAML
// it printed is returned.
func checkArgsAccepted(t *testing.T, args, env []string) string {
	t.Helper()
	known := relaydFlags(t)
	for _, a := range args {
		if strings.HasPrefix(a, "-") && !known[flagOf(a)] {
			t.Errorf("relayd does not know the flag in %q", a)
		}
	}
	out, stderr, err := runRelayd(t, env, append(slices.Clone(args), "--print-config")...)
	if err != nil {
		t.Fatalf("relayd %s --print-config: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}
