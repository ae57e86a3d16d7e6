package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// Link-time overrides, for builds without module or VCS information (for
// example a Docker build from a source tarball):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123" ./cmd/relayd
//
// They are never assigned at run time.
var (
	version string
	commit  string
)

func runVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("version: unexpected argument %q", args[0])}
	}
	info, _ := debug.ReadBuildInfo()
	_, err := fmt.Fprintln(stdout, versionLine(version, commit, info))
	return err
}

// versionLine renders "relayd <version> (<commit>)". The overrides win;
// otherwise the module version and vcs.revision from the build info are
// used, with "devel" and "unknown" when the build recorded none.
func versionLine(versionOverride, commitOverride string, info *debug.BuildInfo) string {
	v, c := versionOverride, commitOverride
	if info != nil && v == "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if info != nil && c == "" {
		c = vcsCommit(info.Settings)
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("relayd %s (%s)", v, c)
}

// vcsCommit shortens the revision to 12 hex digits, as Go pseudo-versions
// do, and marks a build from a modified tree.
func vcsCommit(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(len(rev), 12)] + dirty
}
