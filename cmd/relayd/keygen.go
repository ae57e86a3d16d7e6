package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"

	"github.com/relayd/relayd/p2p/identity"
)

// runKeygen creates a new identity key file and prints its peer ID alone on
// stdout, so scripts can capture it.
func runKeygen(args []string, stdout io.Writer) error {
	path, ifMissing, err := parseKeygenFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, keygenUsage)
		return nil
	}
	if err != nil {
		return usageError{err}
	}
	// CreateKeyFile creates exclusively. Overwriting a key would change the
	// relay's peer ID and strand every client configured with the old one.
	key, err := identity.CreateKeyFile(path)
	if errors.Is(err, fs.ErrExist) && ifMissing {
		// An init container or compose job runs this on every start: the
		// key made the first time must stay, and its peer ID is still useful.
		key, err = identity.LoadKeyFile(path)
	} else if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keygen: %s already exists; refusing to overwrite it (remove it or choose another -o)", path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	_, err = fmt.Fprintln(stdout, identity.PeerIDOf(key).String())
	return err
}

func parseKeygenFlags(args []string) (path string, ifMissing bool, err error) {
	fset := flag.NewFlagSet("relayd keygen", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	out := fset.String("o", defaultConfig().Identity, "key file to create")
	fset.BoolVar(&ifMissing, "if-missing", false, "keep an existing key file and print its peer ID")
	if err := fset.Parse(args); err != nil {
		return "", false, fmt.Errorf("keygen: %w", err)
	}
	if fset.NArg() > 0 {
		return "", false, fmt.Errorf("keygen: unexpected argument %q", fset.Arg(0))
	}
	if *out == "" {
		return "", false, errors.New("keygen: flag -o: must not be empty")
	}
	return *out, ifMissing, nil
}
