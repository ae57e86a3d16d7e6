package circuit

import (
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
)

// peerOf is the requester on c as policy sees it: its peer ID and the IP
// it connects from (the client's own behind a trusted PROXY-protocol load
// balancer, since the host resolved that before the handshake).
func peerOf(c *host.Conn) limiter.Peer {
	return limiter.Peer{ID: c.RemotePeer(), IP: c.RemoteIP()}
}

// refusePolicy answers a request the limiter refused, with the status and
// reason the tables give err (status.go, limiter's Reason).
func (s *Service) refusePolicy(st *host.Stream, req limiter.Request, err error) {
	status, reason := refusal(err, req)
	s.refuse(st, string(req), status, reason, err)
}

// wireLimit is the Limit a grant puts on the wire, nil when unlimited.
func wireLimit(g limiter.Grant) *wire.Limit {
	if !g.Limited {
		return nil
	}
	return &wire.Limit{Duration: uint32(g.Limit.Duration / time.Second), Data: uint64(g.Limit.Data)}
}
