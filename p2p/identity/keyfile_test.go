package identity

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	k, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("mode %o, want 600", perm)
	}
	back, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(back) {
		t.Fatal("loaded key differs")
	}
}

func TestCreateKeyFileRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatalf("file overwritten: %q", b)
	}
}

// A key file as go-libp2p-relay-daemon writes it (crypto.MarshalPrivateKey
// output, nothing else) must load.
func TestLoadForeignKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity")
	if err := os.WriteFile(path, unhex(specEd25519Priv), 0o400); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if PeerIDOf(k).String() != specEd25519ID {
		t.Fatalf("peer ID %s", PeerIDOf(k))
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		path string
		is   error
		text string
	}{
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist, "no such file"},
		{"directory", dir, nil, "is a directory"},
		{"empty", write("empty", nil), ErrInvalidKey, "empty"},
		{"malformed", write("bad", []byte("hello world")), ErrInvalidKey, "invalid key"},
		{"rsa", write("rsa", unhex(specRSAPub)), ErrUnsupportedKey, "RSA"},
		{"huge", write("huge", make([]byte, maxPrivateKeySize+10)), ErrInvalidKey, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyFile(tc.path)
			if err == nil {
				t.Fatal("loaded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "identity file "+tc.path+": ") || !strings.Contains(msg, tc.text) {
				t.Errorf("unclear error %q", msg)
			}
		})
	}
}

func TestLoadKeyFileUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files regardless of mode")
	}
	path := filepath.Join(t.TempDir(), "locked")
	if err := os.WriteFile(path, unhex(specEd25519Priv), 0o000); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("got %v", err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second call returned another key")
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("malformed file was replaced instead of reported")
	}
	if b, _ := os.ReadFile(path); string(b) != "junk" {
		t.Fatal("malformed file was overwritten")
	}
	if _, _, err := LoadOrCreateKeyFile(filepath.Join(path+".d", "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
}
