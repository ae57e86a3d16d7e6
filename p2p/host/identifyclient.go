package host

import (
	"context"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/relayd/relayd/p2p/pbio"
)

// maxIdentifyResponse is what we read of a peer's identify: go-libp2p
// accepts 8 KiB (a signed record included).
const maxIdentifyResponse = 8 << 10

// IdentifyInfo is what a peer's identify told us. Addresses that do not
// parse are left out.
type IdentifyInfo struct {
	AgentVersion string
	ListenAddrs  []ma.Multiaddr
	Protocols    []string
	// ObservedAddr is our address on this connection as the peer sees it:
	// behind a NAT, the mapping, which hole punching advertises.
	ObservedAddr ma.Multiaddr
}

// Identify asks the peer on c who it is and how it sees us.
func (h *Host) Identify(ctx context.Context, c *Conn) (*IdentifyInfo, error) {
	s, err := c.NewStream(ctx, IdentifyID)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	deadline := time.Now().Add(identifyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.SetDeadline(deadline)
	b, err := pbio.ReadDelimited(s, maxIdentifyResponse)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("identify %s: %w", c.remotePeer, err)
	}
	return parseIdentify(b)
}

func parseIdentify(b []byte) (*IdentifyInfo, error) {
	info := &IdentifyInfo{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("identify: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, fmt.Errorf("identify: %w", protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("identify: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 2:
			if a, err := ma.NewMultiaddrBytes(v); err == nil {
				info.ListenAddrs = append(info.ListenAddrs, a)
			}
		case 3:
			info.Protocols = append(info.Protocols, string(v))
		case 4:
			if a, err := ma.NewMultiaddrBytes(v); err == nil {
				info.ObservedAddr = a
			}
		case 6:
			info.AgentVersion = string(v)
		}
	}
	return info, nil
}
