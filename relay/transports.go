package relay

import (
	"fmt"

	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/quic"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
)

// newTransports builds every transport the node can listen on. A /wss
// listen address without Config.TLSConfig is an error naming it, before
// anything binds.
func newTransports(cfg Config) ([]transport.Transport, error) {
	if cfg.TLSConfig == nil {
		for _, a := range cfg.Listen {
			if transport.Label(a) == "wss" {
				return nil, fmt.Errorf("listen %s: a /wss listener needs a TLS certificate", a)
			}
		}
	}
	q, err := quic.New(quic.Config{Key: cfg.Key})
	if err != nil {
		return nil, err
	}
	w, err := ws.New(ws.Config{Path: cfg.WSPath, TLSConfig: cfg.TLSConfig})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return []transport.Transport{tcp.New(), q, w}, nil
}
