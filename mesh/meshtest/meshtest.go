package meshtest

import (
	"context"
	"sync"

	"github.com/relayd/relayd/mesh"
)

// Dir maps node IDs to mesh addresses. Safe for concurrent use.
type Dir struct {
	mu sync.Mutex
	m  map[string]string
}

var _ mesh.Directory = (*Dir)(nil)

// NewDir is an empty directory: every node is unknown until Set.
func NewDir() *Dir { return &Dir{m: make(map[string]string)} }

// MeshAddr is node's address, or mesh.ErrUnknownNode.
func (d *Dir) MeshAddr(_ context.Context, node string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.m[node]; ok {
		return a, nil
	}
	return "", mesh.ErrUnknownNode
}

// Set points node at addr ("" is a node that has no mesh).
func (d *Dir) Set(node, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[node] = addr
}
