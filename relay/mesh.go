package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/fleet"
	"github.com/relayd/relayd/mesh"
)

// randomNodeID names a node that was not given a NodeID.
func randomNodeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newMesh builds the node's mesh end when cfg.Mesh.Listen is set; nil
// otherwise. Its collectors register on reg whether or not the node has a
// mesh, so every node exports them. svc is read when a forwarded circuit
// arrives, after New built the circuit service.
func newMesh(cfg Config, nodeID string, dir *fleetDirectory, logger *slog.Logger, svc **circuit.Service) (*mesh.Node, error) {
	mc := cfg.Mesh
	if cfg.Metrics != nil {
		mc.Metrics = mesh.NewMetrics(cfg.Metrics)
	}
	if mc.Listen == "" {
		return nil, nil
	}
	if mc.Directory == nil && cfg.Fleet != nil {
		mc.Directory = dir
	}
	mc.NodeID = nodeID
	mc.Logger = logger.With("component", "mesh")
	mc.Handler = mesh.HandlerFunc(func(st circuit.Stream, req circuit.ForwardRequest, answer func(wire.Status) error) (circuit.End, error) {
		return (*svc).HandleForwarded(st, req, answer)
	})
	return mesh.New(mc)
}

// MeshAddr is the address other nodes dial for this node's mesh
// (mesh.Node.Advertise), "" without a mesh: what the fleet directory
// publishes.
func (r *Relay) MeshAddr() string {
	if r.mesh == nil {
		return ""
	}
	return r.mesh.Advertise()
}

func closeMesh(mn *mesh.Node) {
	if mn != nil {
		mn.Close()
	}
}

// fleetDirectory is the mesh's Directory on a fleet node: the fleet's
// heartbeats, which publish every node's mesh address. It is set once New
// has built the fleet, which needs the mesh's address first.
type fleetDirectory struct {
	node atomic.Pointer[fleet.Node]
}

func (d *fleetDirectory) MeshAddr(ctx context.Context, node string) (string, error) {
	fl := d.node.Load()
	if fl == nil {
		return "", fmt.Errorf("mesh address of %s: %w", node, fleet.ErrNodeGone)
	}
	return fl.MeshAddr(ctx, node)
}

// nodeID names this node in the store and on the mesh: the fleet's node
// ID (default the hostname, the pod name on Kubernetes), else NodeID
// (default random per process).
func (c Config) nodeID() (string, error) {
	if c.Fleet == nil {
		return c.NodeID, nil
	}
	id, err := c.Fleet.Node()
	if err != nil {
		return "", fmt.Errorf("relay: %w", err)
	}
	return id, nil
}
