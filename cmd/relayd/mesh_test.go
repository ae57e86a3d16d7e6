package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMeshSecretFile: a secret file that cannot be used stops relayd with
// exit code 2 and one line naming mesh_secret.
func TestMeshSecretFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("  too short\n"), 0o600)
	for name, tt := range map[string]struct{ path, want string }{
		"missing": {filepath.Join(dir, "missing"), "config: mesh_secret: open "},
		"short":   {short, "config: mesh_secret: " + short + " holds 9 bytes, at least 32 are required"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{
				"--identity", filepath.Join(dir, "key"), "--listen", "/ip4/127.0.0.1/tcp/0", "--admin-listen", "",
				"--mesh-listen", "127.0.0.1:0", "--mesh-secret", tt.path,
			}, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			// The error is the last line (a first start logs the key it created).
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "relayd: "+tt.want) {
				t.Errorf("stderr %q, want a last line starting with %q", stderr.String(), "relayd: "+tt.want)
			}
		})
	}
}

func TestReadMeshSecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	want := strings.Repeat("ab", 32)
	os.WriteFile(p, []byte(want+"\n"), 0o600)
	got, err := readMeshSecret(p)
	if err != nil || string(got) != want {
		t.Fatalf("readMeshSecret = %q, %v", got, err)
	}
}
