package deploytest

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var dockerfile = filepath.Join(repoRoot, "docker", "Dockerfile")

// dockerfileLines joins continuation lines and drops comments.
func dockerfileLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(c + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	return lines
}

// shellWords splits a RUN line the way sh would for the simple forms the
// Dockerfile uses: words, single and double quotes, ${VAR} from vars.
func shellWords(t *testing.T, s string, vars map[string]string) []string {
	t.Helper()
	s = regexp.MustCompile(`\$\{([A-Z_]+)\}`).ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := vars[name]
		if !ok {
			t.Fatalf("Dockerfile uses ${%s}, which the test does not set", name)
		}
		return v
	})
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestDockerfileBuild runs the Dockerfile's `go build` line outside Docker,
// with the same environment and flags, and checks the image's binary: fully
// static (no dynamic section, no interpreter) and stamped with the version
// and commit passed as build arguments.
func TestDockerfileBuild(t *testing.T) {
	var build string
	for _, l := range dockerfileLines(t) {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			if build != "" {
				t.Fatal("more than one RUN with go build")
			}
			build = strings.TrimPrefix(l, "RUN ")
		}
	}
	if build == "" {
		t.Fatal("no RUN ... go build line in docker/Dockerfile")
	}
	const version, commit = "v9.8.7-test", "0123456789ab"
	words := shellWords(t, build, map[string]string{"VERSION": version, "COMMIT": commit})
	var env []string
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
		env, words = append(env, words[0]), words[1:]
	}
	for _, want := range []string{"CGO_ENABLED=0"} {
		if !slices.Contains(env, want) {
			t.Errorf("build environment %q lacks %s", env, want)
		}
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("RUN line is not `[VAR=x ...] go build ...`: %q", words)
	}
	if !slices.Contains(words, "-trimpath") {
		t.Error("go build without -trimpath")
	}
	out := filepath.Join(t.TempDir(), "relayd")
	o := slices.Index(words, "-o")
	if o < 0 || o+1 >= len(words) {
		t.Fatal("go build without -o")
	}
	words[o+1] = out
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = repoRoot // the Dockerfile's context and WORKDIR /src
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s := f.Section(".dynamic"); s != nil {
		t.Error("binary has a .dynamic section: not static")
	}
	if s := f.Section(".interp"); s != nil {
		t.Error("binary has an ELF interpreter: not static")
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_DYNAMIC || p.Type == elf.PT_INTERP {
			t.Errorf("binary has a %v program header: not static", p.Type)
		}
	}
	got, err := exec.Command(out, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "relayd " + version + " (" + commit + ")\n"; string(got) != want {
		t.Errorf("relayd version printed %q, want %q", got, want)
	}
}

// TestDockerfileImage checks the final stage: non-root, the ports relayd
// serves, a HEALTHCHECK that works without a shell and hits the admin
// address the image configures.
func TestDockerfileImage(t *testing.T) {
	lines := dockerfileLines(t)
	var final []string
	for i, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			final = lines[i:]
		}
	}
	get := func(instr string) []string {
		var out []string
		for _, l := range final {
			if v, ok := strings.CutPrefix(l, instr+" "); ok {
				out = append(out, v)
			}
		}
		return out
	}
	if from := final[0]; !strings.Contains(from, "distroless/static") && !strings.Contains(from, "scratch") {
		t.Errorf("final stage %q is not distroless/static or scratch", from)
	}
	users := get("USER")
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1], "0") || strings.HasPrefix(users[len(users)-1], "root") {
		t.Errorf("USER %q: want a non-root user", users)
	}
	expose := strings.Join(get("EXPOSE"), " ")
	for _, p := range []string{"4001/tcp", "4001/udp", "9494/tcp"} {
		if !strings.Contains(expose, p) {
			t.Errorf("EXPOSE %q lacks %s", expose, p)
		}
	}
	hc := get("HEALTHCHECK")
	if len(hc) != 1 || !strings.Contains(hc[0], `CMD ["/relayd", "healthcheck"]`) {
		t.Fatalf("HEALTHCHECK %q: want the exec form running /relayd healthcheck (no shell in the image)", hc)
	}
	if _, stderr, err := runRelayd(t, nil, "healthcheck", "--help"); err != nil {
		t.Errorf("relayd healthcheck --help: %v %s", err, stderr)
	}
	env := strings.Join(get("ENV"), " ")
	m := regexp.MustCompile(`RELAYD_ADMIN_LISTEN=(\S+)`).FindStringSubmatch(env)
	if m == nil || !strings.HasSuffix(m[1], ":9494") {
		t.Errorf("ENV %q: want RELAYD_ADMIN_LISTEN on the exposed admin port 9494", env)
	}
	// The image's environment is accepted by relayd as it is.
	var vars []string
	for _, f := range regexp.MustCompile(`RELAYD_[A-Z_]+=\S+`).FindAllString(env, -1) {
		vars = append(vars, f)
	}
	checkArgsAccepted(t, []string{"serve"}, vars)
}
