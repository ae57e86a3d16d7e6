package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func pemOf(t *testing.T, typ string, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadPEMKeyFile(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name    string
		content []byte
		want    error // nil: loads edKey
	}{
		{"pkcs8 ed25519", pemOf(t, "PRIVATE KEY", edKey), nil},
		{"leading newline", append([]byte("\n"), pemOf(t, "PRIVATE KEY", edKey)...), nil},
		{"ecdsa", pemOf(t, "PRIVATE KEY", ecKey), ErrUnsupportedKey},
		{"wrong block type", pemOf(t, "EC PRIVATE KEY", edKey), ErrInvalidKey},
		{"broken der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), ErrInvalidKey},
		{"truncated", []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQ"), ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.pem")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadKeyFile(path)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil || !k.Equal(edKey) {
				t.Fatalf("got %v, %v; want the key", k, err)
			}
		})
	}
}
