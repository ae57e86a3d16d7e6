package relay

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
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
func newMesh(cfg Config, reg prometheus.Registerer, logger *slog.Logger, svc **circuit.Service) (*mesh.Node, error) {
	mc := cfg.Mesh
	if reg != nil {
		mc.Metrics = mesh.NewMetrics(reg)
	}
	if mc.Listen == "" {
		return nil, nil
	}
	mc.NodeID = cfg.NodeID
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
