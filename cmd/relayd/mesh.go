package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/relayd/relayd/mesh"
)

// meshConfig is the node's mesh, none without mesh_listen. A secret file
// that cannot be used is a config error (exit code 2) naming mesh_secret.
// The fleet's directory (Directory) is wired where the Redis store is.
func meshConfig(cfg Config) (mesh.Config, error) {
	if cfg.MeshListen == "" {
		return mesh.Config{}, nil
	}
	secret, err := readMeshSecret(cfg.MeshSecret)
	if err != nil {
		return mesh.Config{}, usageError{fmt.Errorf("config: mesh_secret: %w", err)}
	}
	return mesh.Config{Listen: cfg.MeshListen, Advertise: cfg.MeshAdvertise, Secret: secret}, nil
}

// readMeshSecret reads the cluster secret: the file's bytes without
// surrounding whitespace (so a trailing newline is no part of it), at least
// mesh.MinSecretSize of them.
func readMeshSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < mesh.MinSecretSize {
		return nil, fmt.Errorf("%s holds %d bytes, at least %d are required (e.g. openssl rand -hex 32 > %s)",
			path, len(b), mesh.MinSecretSize, path)
	}
	return b, nil
}
