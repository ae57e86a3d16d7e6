package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadKeyFile reads an identity file written by CreateKeyFile, go-libp2p or
// go-libp2p-relay-daemon. Errors name the file and say whether it is missing
// (wraps fs.ErrNotExist), unreadable or malformed.
func LoadKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := readCapped(path, maxPrivateKeySize)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("identity file %s: %w: file is empty", path, ErrInvalidKey)
	}
	k, err := unmarshalKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return k, nil
}

// readCapped reads at most max bytes and fails on anything larger, so a
// wrong path (say, a log file) cannot make us read gigabytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", unwrapPath(err))
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrInvalidKey, max)
	}
	return b, nil
}

// unwrapPath drops the *PathError wrapper, whose message would repeat the
// path we already put in front.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// CreateKeyFile generates a key and writes it to a new file with mode 0600.
// It never overwrites: if path exists the error wraps fs.ErrExist.
func CreateKeyFile(path string) (ed25519.PrivateKey, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(path, MarshalPrivateKey(k)); err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return k, nil
}

// writeNewFile creates path exclusively, writes b and fsyncs it. A failed
// write removes the file so no half-written identity is left behind.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return unwrapPath(err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing: %w", unwrapPath(err))
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes the new directory entry durable. Best effort: some
// filesystems refuse fsync on directories, and the file itself is synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// LoadOrCreateKeyFile loads path, or creates it with a new key if it does not
// exist. created reports which happened. Any other load error (unreadable,
// malformed) is returned as is: a broken identity file is never replaced.
func LoadOrCreateKeyFile(path string) (key ed25519.PrivateKey, created bool, err error) {
	k, err := LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = CreateKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		// Lost a race with another process creating it: use theirs.
		k, err = LoadKeyFile(path)
		return k, false, err
	}
	return k, err == nil, err
}
