package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupLimitFiles hold a container's memory limit as the container sees
// it (its cgroup namespace's root): cgroup v2 first, then v1.
var cgroupLimitFiles = []string{
	"sys/fs/cgroup/memory.max",
	"sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// cgroupMemoryLimit is the memory limit in bytes of the container whose
// file system is rooted at root, or 0 if it has none ("max", or v1's
// page-rounded MaxInt64) or no cgroup files are mounted.
func cgroupMemoryLimit(root string) (int64, error) {
	for _, name := range cgroupLimitFiles {
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s: unexpected content %q", name, s)
		}
		if n >= math.MaxInt64/2 { // v1's "unlimited"
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}

// memoryLimit is the Go memory limit memory_limit_percent asks for: 0 (leave
// the runtime alone) when GOMEMLIMIT is set, the percentage is 0, or the
// container has no limit.
func memoryLimit(percent int, getenv func(string) string, root string) (int64, error) {
	if percent <= 0 || getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	n, err := cgroupMemoryLimit(root)
	if err != nil || n == 0 {
		return 0, err
	}
	p := int64(percent)
	return n/100*p + n%100*p/100, nil
}

// applyMemoryLimit sets the runtime's soft memory limit from the
// container's and returns what puts the previous one back (serve runs in
// tests too, and the limit is the process's).
func applyMemoryLimit(percent int, getenv func(string) string, root string, logger *slog.Logger) (restore func()) {
	n, err := memoryLimit(percent, getenv, root)
	if err != nil {
		logger.Warn("container memory limit unreadable; Go's memory limit left unset", "err", err)
	}
	if n <= 0 {
		return func() {}
	}
	prev := debug.SetMemoryLimit(n)
	logger.Info("Go memory limit set from the container's", "bytes", n, "percent", percent)
	return func() { debug.SetMemoryLimit(prev) }
}

func checkPercent(v int) error {
	if v < 0 || v > 100 {
		return fmt.Errorf("must be between 0 and 100, got %d", v)
	}
	return nil
}
