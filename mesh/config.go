package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
)

// MinSecretSize is the shortest cluster secret accepted: 32 bytes, e.g. 64
// hex digits from `openssl rand -hex 32`.
const MinSecretSize = 32

// Directory finds other nodes' mesh addresses (host:port). The fleet's
// Redis directory implements it (fleet.Node.MeshAddr). An error, or an
// empty address (a node without a mesh), fails the forward and stops this
// node redialing that node until the next forward.
type Directory interface {
	MeshAddr(ctx context.Context, node string) (string, error)
}

// StaticDirectory is a fixed map from node ID to mesh address.
type StaticDirectory map[string]string

// ErrUnknownNode: the directory does not know the node.
var ErrUnknownNode = errors.New("mesh: unknown node")

// MeshAddr implements Directory.
func (d StaticDirectory) MeshAddr(_ context.Context, node string) (string, error) {
	if a, ok := d[node]; ok {
		return a, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownNode, node)
}

// Handler serves circuits forwarded to this node: *circuit.Service.
type Handler interface {
	HandleForwarded(st circuit.Stream, req circuit.ForwardRequest, answer func(wire.Status) error) (circuit.End, error)
}

// HandlerFunc is a func as a Handler.
type HandlerFunc func(st circuit.Stream, req circuit.ForwardRequest, answer func(wire.Status) error) (circuit.End, error)

// HandleForwarded implements Handler.
func (f HandlerFunc) HandleForwarded(st circuit.Stream, req circuit.ForwardRequest, answer func(wire.Status) error) (circuit.End, error) {
	return f(st, req, answer)
}

// Config configures a Node. Zero values mean the defaults on each field.
type Config struct {
	// NodeID is this node's ID, as other nodes and the reservation store
	// know it. Required.
	NodeID string
	// Listen is the host:port mesh links are accepted on. Required.
	Listen string
	// Advertise is the host:port other nodes dial to reach Listen; the
	// fleet's directory publishes it (Node.Advertise). Default: the bound
	// listen address.
	Advertise string
	// Secret is the cluster secret every node shares; links are
	// authenticated with a key derived from it. At least MinSecretSize
	// bytes. Required: a node without one has no mesh.
	Secret []byte
	// Directory finds the nodes this node forwards to. Default nil: this
	// node only serves links other nodes dial.
	Directory Directory
	// Handler serves circuits forwarded here. Required.
	Handler Handler
	// HandshakeTimeout bounds a link's Noise handshake and a forwarded
	// stream's Connect frame. Default 10 s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds dialing a node. Default 5 s.
	DialTimeout time.Duration
	// RedialMin and RedialMax bound the backoff between dials of a node
	// whose link failed: it doubles from RedialMin up to RedialMax.
	// Defaults 100 ms and 10 s.
	RedialMin, RedialMax time.Duration
	// MaxHandshakes caps inbound handshakes in flight; more connections
	// are closed at once. Default 64.
	MaxHandshakes int
	// Logger receives the mesh's logs. Default: discard.
	Logger *slog.Logger
	// Metrics receives the mesh's counts. Default: metrics on a private
	// registry, so nothing is exported.
	Metrics *Metrics
}

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RedialMin <= 0 {
		c.RedialMin = 100 * time.Millisecond
	}
	if c.RedialMax <= 0 {
		c.RedialMax = 10 * time.Second
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	return c
}

// Validate reports the first missing or invalid field.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("mesh: Config.NodeID is required")
	case len(c.NodeID) > 255:
		return errors.New("mesh: Config.NodeID is longer than 255 bytes")
	case c.Listen == "":
		return errors.New("mesh: Config.Listen is required")
	case len(c.Secret) < MinSecretSize:
		return fmt.Errorf("mesh: Config.Secret has %d bytes, at least %d are required", len(c.Secret), MinSecretSize)
	case c.Handler == nil:
		return errors.New("mesh: Config.Handler is required")
	}
	return nil
}
