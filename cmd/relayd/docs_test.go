package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the Config field comments")

const docsPath = "../../docs/config.md"

// TestConfigDocs keeps docs/config.md equal to what the Config struct says:
// keys, flags and variables from bindings(), defaults from defaultConfig(),
// meanings from the field comments in config.go.
func TestConfigDocs(t *testing.T) {
	want := configDocs(t)
	if *update {
		if err := os.WriteFile(docsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with Config; run: go test ./cmd/relayd -run TestConfigDocs -update", docsPath)
	}
}

const docsHeader = `# relayd configuration

<!-- Generated from cmd/relayd/config.go by
     go test ./cmd/relayd -run TestConfigDocs -update
     Edit the Config field comments, not this file. -->

relayd takes its configuration from four sources. Each overrides the ones
before it:

1. built-in defaults (the table below);
2. a YAML file, given with ` + "`--config FILE`" + ` or ` + "`RELAYD_CONFIG`" + `;
3. ` + "`RELAYD_*`" + ` environment variables (an empty variable counts as unset);
4. command-line flags (` + "`--flag value`, `--flag=value`; `-flag` works too" + `).

` + "`relayd --print-config`" + ` prints the effective configuration as a YAML file that
relayd accepts back, so ` + "`relayd --print-config > relayd.yaml`" + ` is a good start.

Durations use Go syntax: ` + "`90s`, `2m`, `1h30m`" + `. Lists are YAML sequences in the
file, repeated (or comma-separated) flags on the command line, and
comma-separated in the environment; a list flag replaces the list from the
file or the default rather than adding to it. An unknown key in the file, a
value that does not parse, or one that fails validation stops relayd with a
one-line error naming the key, flag or variable, and exit code 2.

| YAML key | flag | environment | default | meaning |
|---|---|---|---|---|
`

func configDocs(t *testing.T) []byte {
	t.Helper()
	comments := fieldComments(t, "config.go", "Config")
	var buf bytes.Buffer
	buf.WriteString(docsHeader)
	d := defaultConfig()
	for _, b := range bindings(&d) {
		meaning, ok := comments[b.key]
		if !ok || meaning == "" {
			t.Errorf("Config field with yaml key %q has no comment", b.key)
		}
		fmt.Fprintf(&buf, "| `%s` | `--%s` | `%s` | %s | %s |\n",
			b.key, flagName(b.key), envName(b.key), docsDefault(b.value), cell(meaning))
	}
	writeClassDocs(t, &buf)
	return buf.Bytes()
}

const classDocsHeader = `
## Class keys

Each entry of ` + "`classes`" + ` is a mapping with these keys. In the file:

` + "```yaml" + `
classes:
  - name: partners
    peers: [12D3KooW...]
    cidrs: [10.0.0.0/8]
    limit_duration: 10m
    limit_data: 1048576
` + "```" + `

The same class as a flag (` + "`--class`" + `, repeatable) or in ` + "`RELAYD_CLASS`" + ` (several
classes separated by spaces):
` + "`name=partners;peers=12D3KooW...;cidrs=10.0.0.0/8;limit_duration=10m;limit_data=1048576`" + `.
Giving the flag replaces the file's list. An override left out keeps the
default class's value (the top-level key of the same name); given, it has
that key's syntax and meaning. Errors name the class by its position, e.g.
` + "`config: classes[1].limit_data: must be >= 0, got -5`" + `.

| key | meaning |
|---|---|
`

// writeClassDocs appends the class-keys table from the ClassConfig
// field comments.
func writeClassDocs(t *testing.T, buf *bytes.Buffer) {
	t.Helper()
	comments := fieldComments(t, "classes.go", "ClassConfig")
	buf.WriteString(classDocsHeader)
	var cc ClassConfig
	for _, b := range classBindings(&cc) {
		meaning, ok := comments[b.key]
		if !ok || meaning == "" {
			t.Errorf("ClassConfig field with yaml key %q has no comment", b.key)
		}
		fmt.Fprintf(buf, "| `%s` | %s |\n", b.key, cell(meaning))
	}
}

// TestConfigCommentsStateDefaults catches a comment whose "Default: X"
// disagrees with defaultConfig, the drift libp2p's Resources docs suffered.
func TestConfigCommentsStateDefaults(t *testing.T) {
	comments := fieldComments(t, "config.go", "Config")
	d := defaultConfig()
	for _, b := range bindings(&d) {
		_, stated, ok := strings.Cut(comments[b.key], "Default: ")
		if !ok {
			t.Errorf("comment of %q does not say `Default: ...`", b.key)
			continue
		}
		want := []string{b.value.String()}
		if l, ok := b.value.(*listValue); ok {
			want = *l.p
			if len(want) == 0 {
				want = []string{"empty"}
			}
		}
		for _, w := range want {
			if !strings.Contains(stated, w) {
				t.Errorf("comment of %q states default %q, want it to mention %q", b.key, stated, w)
			}
		}
	}
}

func docsDefault(v value) string {
	if c, ok := v.(*classesValue); ok && len(*c.p) == 0 {
		return "(empty)"
	}
	if l, ok := v.(*listValue); ok {
		if len(*l.p) == 0 {
			return "(empty)"
		}
		return "`" + strings.Join(*l.p, "`, `") + "`"
	}
	return "`" + v.String() + "`"
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// fieldComments maps the yaml key of each field of struct typeName in file
// to its doc comment, joined into one line.
func fieldComments(t *testing.T, file, typeName string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typeName {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			if fld.Tag == nil {
				continue
			}
			key := yamlKeyOf(fld.Tag.Value)
			out[key] = strings.Join(strings.Fields(fld.Doc.Text()), " ")
		}
		return false
	})
	return out
}

func yamlKeyOf(rawTag string) string {
	_, rest, _ := strings.Cut(rawTag, `yaml:"`)
	key, _, _ := strings.Cut(rest, `"`)
	return key
}
