package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// options are serve flags that steer loading rather than configure the relay.
type options struct {
	configFile  string
	printConfig bool
}

// usageError marks errors that mean "the user asked for something invalid":
// run prints them and exits 2 instead of 1.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// loadConfig builds the effective Config from defaults, the YAML file, the
// environment and args, each overriding the one before. It does not call
// Validate. It returns flag.ErrHelp when args ask for help.
func loadConfig(args []string, lookupEnv func(string) (string, bool)) (Config, options, error) {
	// A first pass over the flags finds --config and rejects bad flags
	// before any file is read; its Config is thrown away.
	var opts options
	scratch := defaultConfig()
	if err := parseFlags(args, &scratch, &opts); err != nil {
		return Config{}, opts, err
	}
	if opts.configFile == "" {
		opts.configFile, _ = lookupEnv(envConfigFile)
	}
	cfg := defaultConfig()
	if opts.configFile != "" {
		if err := loadFile(opts.configFile, &cfg); err != nil {
			return Config{}, opts, err
		}
	}
	if err := applyEnv(&cfg, lookupEnv); err != nil {
		return Config{}, opts, err
	}
	err := parseFlags(args, &cfg, &opts)
	return cfg, opts, err
}

// parseFlags sets the fields of c named by args. Its errors name the flag.
func parseFlags(args []string, c *Config, opts *options) error {
	fs, failed := newFlagSet(c, opts)
	if err := fs.Parse(args); err != nil {
		if *failed != nil {
			return *failed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (serve takes only flags)", fs.Arg(0))
	}
	return nil
}

// newFlagSet binds every Config field and the loading options. The returned
// pointer receives the first error a flag value reports, worded with the
// flag's name, because package flag would wrap it in a longer sentence.
func newFlagSet(c *Config, opts *options) (*flag.FlagSet, *error) {
	fs := flag.NewFlagSet("relayd serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	failed := new(error)
	for _, b := range bindings(c) {
		name := flagName(b.key)
		fs.Var(flagValue{b.value, name, failed}, name, b.usage)
	}
	fs.StringVar(&opts.configFile, "config", opts.configFile, "YAML config file")
	fs.BoolVar(&opts.printConfig, "print-config", opts.printConfig, "print the effective config and exit")
	return fs, failed
}

type flagValue struct {
	value
	name   string
	failed *error
}

func (f flagValue) Set(s string) error {
	err := f.value.Set(s)
	if err != nil && *f.failed == nil {
		*f.failed = fmt.Errorf("flag --%s: %w", f.name, err)
	}
	return err
}

// IsBoolFlag lets a boolean field be given as a bare --name.
func (f flagValue) IsBoolFlag() bool {
	b, ok := f.value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// applyEnv sets the fields whose RELAYD_* variable is set and non-empty.
// Empty counts as unset, because orchestrators often export empty variables.
func applyEnv(c *Config, lookupEnv func(string) (string, bool)) error {
	for _, b := range bindings(c) {
		name := envName(b.key)
		s, ok := lookupEnv(name)
		if !ok || s == "" {
			continue
		}
		if err := b.value.Set(s); err != nil {
			return fmt.Errorf("env %s: %w", name, err)
		}
	}
	return nil
}

// maxConfigFile bounds what loadFile reads; a real config is a few hundred
// bytes, and a mistaken path (a log, a device) must not be slurped whole.
const maxConfigFile = 1 << 20

func loadFile(path string, c *Config) error {
	b, err := readCapped(path, maxConfigFile)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := decodeYAML(b, c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// decodeYAML sets the fields of c present in the YAML mapping b. It walks
// the node tree itself rather than decoding into the struct, so that an
// unknown key and a bad value alike produce an error naming the key, and so
// values go through the same parsers as flags and env.
func decodeYAML(b []byte, c *Config) error {
	root, err := singleDocument(b)
	if err != nil || root == nil {
		return err
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of keys to values at the top level", root.Line)
	}
	byKey := make(map[string]value)
	for _, bd := range bindings(c) {
		byKey[bd.key] = bd.value
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		val, ok := byKey[k.Value]
		switch {
		case !ok:
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		case seen[k.Value]:
			return fmt.Errorf("line %d: %s: key given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if cv, ok := val.(*classesValue); ok {
			if err := cv.decodeNode(v); err != nil {
				return err
			}
			continue
		}
		if err := setFromNode(val, v); err != nil {
			return fmt.Errorf("line %d: %s: %w", k.Line, k.Value, err)
		}
	}
	return nil
}

// singleDocument returns the top node of b, nil for a file with no content,
// and an error if b holds more than one document.
func singleDocument(b []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("want exactly one YAML document")
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, nil
}

func setFromNode(v value, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if l, ok := v.(*listValue); ok {
		items, err := scalarList(n)
		if err != nil {
			return err
		}
		return l.replace(items)
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a single value, not a list or mapping")
	}
	return v.Set(scalarText(n))
}

// scalarList accepts a sequence of scalars, a single scalar as a list of
// one, and null as the empty list.
func scalarList(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return []string{}, nil
		}
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list of multiaddrs")
	}
	items := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		if it.Kind == yaml.AliasNode {
			it = it.Alias
		}
		if it.Kind != yaml.ScalarNode {
			return nil, errors.New("want a list of multiaddr strings, not nested lists or mappings")
		}
		items = append(items, scalarText(it))
	}
	return items, nil
}

// scalarText maps YAML null ("~", "null", nothing) to the empty string, so
// `identity:` reads as empty rather than as the word "null".
func scalarText(n *yaml.Node) string {
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}
