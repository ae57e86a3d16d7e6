package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
)

// runResult is what one call of run produced.
type runResult struct {
	code           int
	stdout, stderr string
}

// runRelayd calls run with a cancelled context, so a serve that starts
// returns at once, and with every RELAYD_* variable cleared (empty counts as
// unset) so the caller's environment cannot leak in.
func runRelayd(t *testing.T, args ...string) runResult {
	t.Helper()
	clearEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return runResult{code, stdout.String(), stderr.String()}
}

func clearEnv(t *testing.T) {
	t.Helper()
	t.Setenv(envConfigFile, "")
	var c Config
	for _, b := range bindings(&c) {
		t.Setenv(envName(b.key), "")
	}
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "relayd.key")
	// serve logs at info and warn; quiet it so the table can demand an empty stderr.
	loopback := []string{"--identity", key, "--listen", "/ip4/127.0.0.1/tcp/0", "--admin-listen", "127.0.0.1:0", "--log-level", "error"}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderrLine string // prefix of the only stderr line; "" means stderr empty
	}{
		{"help", []string{"help"}, 0, "Usage:", ""},
		{"-h", []string{"-h"}, 0, "Usage:", ""},
		{"--help", []string{"--help"}, 0, "Usage:", ""},
		{"serve --help", []string{"serve", "--help"}, 0, "--limit-duration DURATION", ""},
		{"help serve", []string{"help", "serve"}, 0, "Usage:", ""},
		{"help keygen", []string{"help", "keygen"}, 0, "relayd keygen [-o FILE]", ""},
		{"keygen -h", []string{"keygen", "-h"}, 0, "never overwrites", ""},
		{"version", []string{"version"}, 0, "relayd ", ""},
		{"print-config", []string{"--print-config"}, 0, "limit_data: 131072", ""},
		{"serve until cancelled", append([]string{"serve"}, loopback...), 0, "", ""},
		{"default command is serve", loopback, 0, "", ""},

		{"unknown command", []string{"bogus"}, 2, "", `relayd: unknown command "bogus"`},
		{"help unknown", []string{"help", "bogus"}, 2, "", `relayd: help: unknown command "bogus"`},
		{"help too many", []string{"help", "a", "b"}, 2, "", "relayd: help: want at most one command"},
		{"version extra", []string{"version", "x"}, 2, "", `relayd: version: unexpected argument "x"`},
		{"keygen extra", []string{"keygen", "x"}, 2, "", `relayd: keygen: unexpected argument "x"`},
		{"keygen unknown flag", []string{"keygen", "--force"}, 2, "", "relayd: keygen: flag provided but not defined: -force"},
		{"keygen empty -o", []string{"keygen", "-o", ""}, 2, "", "relayd: keygen: flag -o: must not be empty"},
		{"bad listen flag", []string{"--listen", "foo"}, 2, "", `relayd: flag --listen: invalid multiaddr "foo": `},
		{"negative limit", []string{"--limit-data", "-5"}, 2, "", "relayd: config: limit_data: must be >= 0, got -5"},
		{"bad ttl", []string{"serve", "--reservation-ttl", "-1h"}, 2, "", "relayd: config: reservation_ttl: must be >= 1s, got -1h0m0s"},
		{"unknown flag", []string{"--nope"}, 2, "", "relayd: flag provided but not defined: -nope"},
		{"serve argument", []string{"serve", "extra"}, 2, "", `relayd: unexpected argument "extra"`},
		{"missing config file", []string{"--config", filepath.Join(dir, "none.yaml")}, 2, "", "relayd: config file: open "},
		{"print-config still validates", []string{"--print-config", "--log-level", "loud"}, 2, "", `relayd: config: log_level: must be one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runRelayd(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, r.stdout)
			}
			checkStderrLine(t, r.stderr, tt.stderrLine)
		})
	}
}

func checkStderrLine(t *testing.T, stderr, wantPrefix string) {
	t.Helper()
	switch {
	case wantPrefix == "" && stderr != "":
		t.Errorf("stderr %q, want empty", stderr)
	case wantPrefix == "":
	case strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n"):
		t.Errorf("stderr %q, want exactly one line", stderr)
	case !strings.HasPrefix(stderr, wantPrefix):
		t.Errorf("stderr %q, want prefix %q", stderr, wantPrefix)
	}
}

// TestRunConfigSources drives the file and env paths through run, which
// must name the file, variable or key in its one-line error.
func TestRunConfigSources(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "max_reservations: 7\nlog_format: json\n")
	unknown := writeFile(t, dir, "unknown.yaml", "max_reservation: 7\n")
	invalid := writeFile(t, dir, "invalid.yaml", "limit_duration: 1500ms\n")
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		stdout     string
		stderrLine string
	}{
		{"file", nil, []string{"--config", good, "--print-config"}, 0, "max_reservations: 7\n", ""},
		{"env names file", map[string]string{"RELAYD_CONFIG": good}, []string{"--print-config"}, 0, "log_format: json\n", ""},
		{"env beats file", map[string]string{"RELAYD_MAX_RESERVATIONS": "9"}, []string{"--config", good, "--print-config"}, 0, "max_reservations: 9\n", ""},
		{"flag beats env", map[string]string{"RELAYD_MAX_RESERVATIONS": "9"}, []string{"--config", good, "--max-reservations", "11", "--print-config"}, 0, "max_reservations: 11\n", ""},
		{"unknown key", nil, []string{"--config", unknown}, 2, "", "relayd: config file " + unknown + `: line 1: unknown key "max_reservation"`},
		{"invalid value in file", nil, []string{"--config", invalid}, 2, "", "relayd: config: limit_duration: must be a whole number of seconds, got 1.5s"},
		{"bad env", map[string]string{"RELAYD_HANDSHAKE_TIMEOUT": "fast"}, nil, 2, "", `relayd: env RELAYD_HANDSHAKE_TIMEOUT: invalid duration "fast"`},
		{"invalid env value", map[string]string{"RELAYD_MAX_CIRCUITS_PER_PEER": "0"}, nil, 2, "", "relayd: config: max_circuits_per_peer: must be >= 1, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			checkStderrLine(t, stderr.String(), tt.stderrLine)
		})
	}
}

// TestPrintConfigRoundTrips: what --print-config prints, fed back as the
// config file, yields the same configuration and the same output.
func TestPrintConfigRoundTrips(t *testing.T) {
	for name, c := range map[string]Config{"default": defaultConfig(), "alt": altConfig()} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeConfig(&buf, c); err != nil {
				t.Fatal(err)
			}
			var got Config // zero, so every field must come from the file
			if err := decodeYAML(buf.Bytes(), &got); err != nil {
				t.Fatalf("decoding printed config: %v\n%s", err, buf.String())
			}
			if !equalConfig(got, c) {
				t.Errorf("round trip changed the config:\ngot  %+v\nwant %+v\n%s", got, c, buf.String())
			}
		})
	}
	t.Run("through run", func(t *testing.T) {
		first := runRelayd(t, "--print-config", "--max-reservations", "5", "--announce", "/ip4/192.0.2.1/tcp/4001")
		file := writeFile(t, t.TempDir(), "printed.yaml", first.stdout)
		second := runRelayd(t, "--config", file, "--print-config")
		if first.code != 0 || second.code != 0 || first.stdout != second.stdout {
			t.Errorf("exit %d then %d; output changed:\n%s\n---\n%s", first.code, second.code, first.stdout, second.stdout)
		}
	})
}

// equalConfig compares configs by their printed form, which holds every
// field (TestEveryFieldIsBound) and treats nil and empty lists alike, as
// YAML does.
func equalConfig(a, b Config) bool {
	var x, y bytes.Buffer
	return writeConfig(&x, a) == nil && writeConfig(&y, b) == nil && x.String() == y.String()
}

func TestHelpListsEveryFlag(t *testing.T) {
	r := runRelayd(t, "help")
	var c Config
	for _, b := range bindings(&c) {
		for _, want := range []string{"--" + flagName(b.key), envName(b.key), b.usage} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	}
	for _, want := range []string{"--config FILE", "RELAYD_CONFIG", "--print-config", "keygen", "version", "Exit codes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.key")
	r := runRelayd(t, "keygen", "-o", path)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("keygen: exit %d, stderr %q", r.code, r.stderr)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	key, err := identity.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := identity.PeerIDOf(key).String() + "\n"; r.stdout != want {
		t.Errorf("stdout %q, want the peer ID %q", r.stdout, want)
	}

	before, _ := os.ReadFile(path)
	again := runRelayd(t, "keygen", "-o", path)
	if again.code != 1 || again.stdout != "" {
		t.Errorf("second keygen: exit %d stdout %q, want exit 1 and no output", again.code, again.stdout)
	}
	checkStderrLine(t, again.stderr, "relayd: keygen: "+path+" already exists; refusing to overwrite it")
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("keygen changed an existing key file")
	}
}

func TestKeygenDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	if r := runRelayd(t, "keygen"); r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := identity.LoadKeyFile(defaultConfig().Identity); err != nil {
		t.Errorf("keygen without -o did not create %s: %v", defaultConfig().Identity, err)
	}
}

func TestKeygenUnwritableDir(t *testing.T) {
	r := runRelayd(t, "keygen", "-o", filepath.Join(t.TempDir(), "missing-dir", "k"))
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	checkStderrLine(t, r.stderr, "relayd: keygen: ")
}

func TestVersionLine(t *testing.T) {
	withVCS := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{
		Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		{"no build info", "", "", nil, "relayd devel (unknown)"},
		{"module and vcs", "", "", withVCS, "relayd v1.2.3 (0123456789ab)"},
		{"devel and dirty", "", "", dirty, "relayd devel (abc-dirty)"},
		{"ldflags win", "v9.9.9", "feedface", withVCS, "relayd v9.9.9 (feedface)"},
		{"version override only", "v9.9.9", "", withVCS, "relayd v9.9.9 (0123456789ab)"},
		{"no vcs", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "relayd devel (unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.version, tt.commit, tt.info); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	r := runRelayd(t, "version")
	info, _ := debug.ReadBuildInfo()
	if want := versionLine(version, commit, info) + "\n"; r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stdout %q, want %q", r.code, r.stdout, want)
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		debugShown    bool
	}{
		{"debug", "text", true},
		{"info", "json", false},
		{"warn", "text", false},
		{"error", "json", false},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger(&buf, tt.level, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("d")
			l.Error("e", "k", "v")
			if got := strings.Contains(buf.String(), "msg=d") || strings.Contains(buf.String(), `"msg":"d"`); got != tt.debugShown {
				t.Errorf("debug line shown = %v, want %v:\n%s", got, tt.debugShown, buf.String())
			}
			if tt.format == "json" {
				var m map[string]any
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["k"] != "v" {
					t.Errorf("not one JSON object with k=v: %v\n%s", err, buf.String())
				}
			}
		})
	}
	if _, err := newLogger(&bytes.Buffer{}, "info", "xml"); err == nil {
		t.Error("format xml accepted")
	}
}

// TestServeReturnsOnCancel guards the daemon's shutdown path: a cancelled
// context makes run return 0 without leaking goroutines.
func TestServeReturnsOnCancel(t *testing.T) {
	leakcheck.Check(t)
	key := filepath.Join(t.TempDir(), "relayd.key")
	r := runRelayd(t, "--identity", key, "--listen", "/ip4/127.0.0.1/tcp/0", "--admin-listen", "127.0.0.1:0", "--log-level", "error")
	if r.code != 0 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestKeygenIfMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.key")
	first := runRelayd(t, "keygen", "-if-missing", "-o", path)
	if first.code != 0 || first.stderr != "" {
		t.Fatalf("first keygen -if-missing: exit %d, stderr %q", first.code, first.stderr)
	}
	before, _ := os.ReadFile(path)
	again := runRelayd(t, "keygen", "-if-missing", "-o", path)
	if again.code != 0 || again.stdout != first.stdout {
		t.Errorf("second keygen -if-missing: exit %d stdout %q, want 0 and the same peer ID %q", again.code, again.stdout, first.stdout)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("keygen -if-missing changed an existing key file")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if bad := runRelayd(t, "keygen", "-if-missing", "-o", path); bad.code != 1 || bad.stdout != "" {
		t.Errorf("keygen -if-missing on a broken key: exit %d stdout %q, want exit 1 and no output", bad.code, bad.stdout)
	}
}
