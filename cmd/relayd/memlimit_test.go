package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// fakeRoot is a file system root with the given cgroup files (path under
// root → content).
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMemoryLimit(t *testing.T) {
	const v2, v1 = "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"
	noEnv := func(string) string { return "" }
	tests := []struct {
		name    string
		files   map[string]string
		percent int
		getenv  func(string) string
		want    int64
		wantErr string
	}{
		{"v2 limit", map[string]string{v2: "1073741824\n"}, 90, noEnv, 1073741824 * 90 / 100, ""},
		{"v2 no limit", map[string]string{v2: "max\n"}, 90, noEnv, 0, ""},
		{"v1 limit", map[string]string{v1: "536870912\n"}, 50, noEnv, 536870912 / 2, ""},
		{"v1 unlimited", map[string]string{v1: strconv.FormatInt(math.MaxInt64&^4095, 10) + "\n"}, 90, noEnv, 0, ""},
		{"v2 before v1", map[string]string{v2: "2000\n", v1: "1000\n"}, 100, noEnv, 2000, ""},
		{"no cgroup", nil, 90, noEnv, 0, ""},
		{"percent 0 is off", map[string]string{v2: "1073741824\n"}, 0, noEnv, 0, ""},
		{"GOMEMLIMIT wins", map[string]string{v2: "1073741824\n"}, 90,
			func(k string) string { return map[string]string{"GOMEMLIMIT": "2GiB"}[k] }, 0, ""},
		{"garbage", map[string]string{v2: "lots\n"}, 90, noEnv, 0, `unexpected content "lots"`},
	}
	for _, tt := range tests {
		got, err := memoryLimit(tt.percent, tt.getenv, fakeRoot(t, tt.files))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

// TestApplyMemoryLimit sets the process's limit from a fake container and
// checks restore puts the previous one back.
func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	root := fakeRoot(t, map[string]string{"sys/fs/cgroup/memory.max": "1000000000\n"})
	restore := applyMemoryLimit(90, func(string) string { return "" }, root, slog.New(slog.DiscardHandler))
	if got := debug.SetMemoryLimit(-1); got != 900000000 {
		t.Errorf("limit %d, want 900000000", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("after restore, limit %d, want %d", got, prev)
	}
	// Nothing to apply: nothing changes.
	applyMemoryLimit(90, func(string) string { return "" }, t.TempDir(), slog.New(slog.DiscardHandler))()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("without a cgroup, limit %d, want %d", got, prev)
	}
}
