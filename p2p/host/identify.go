package host

import (
	"crypto/ed25519"
	"io"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/pbio"
)

// Protocol IDs served by every host.
const (
	IdentifyID     = "/ipfs/id/1.0.0"
	IdentifyPushID = "/ipfs/id/push/1.0.0"
	PingID         = "/ipfs/ping/1.0.0"
)

const (
	identifyProtocolVersion = "ipfs/0.1.0"
	peerRecordDomain        = "libp2p-peer-record"
	// maxIdentifyPush bounds what we read (and discard) of a peer's
	// identify push: we keep nothing from it.
	maxIdentifyPush = 64 << 10
	// identifyTimeout bounds writing our identify response.
	identifyTimeout = 10 * time.Second
)

// peerRecordPayloadType is multicodec 0x0301 (libp2p-peer-record) as the
// two raw bytes go, rust and js use.
func peerRecordPayloadType() []byte { return []byte{0x03, 0x01} }

func (h *Host) handleIdentify(s *Stream) {
	defer s.Close()
	s.SetWriteDeadline(time.Now().Add(identifyTimeout))
	msg := h.identifyMessage(s.conn.RemoteMultiaddr())
	if err := pbio.WriteDelimited(s, msg); err != nil {
		s.conn.debug("identify write failed", "err", err)
		s.Reset()
	}
}

// handleIdentifyPush reads and drops a push: the relay needs none of the
// peer's addresses or protocols.
func handleIdentifyPush(s *Stream) {
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(identifyTimeout))
	io.Copy(io.Discard, io.LimitReader(s, maxIdentifyPush))
}

// identifyMessage is the cached message with this connection's
// observedAddr appended (protobuf fields may come in any order).
func (h *Host) identifyMessage(observed ma.Multiaddr) []byte {
	h.mu.Lock()
	base := h.identifyMsg
	h.mu.Unlock()
	if base == nil {
		base = h.buildIdentify()
		h.mu.Lock()
		h.identifyMsg = base
		h.mu.Unlock()
	}
	msg := make([]byte, len(base), len(base)+64)
	copy(msg, base)
	if observed != nil {
		msg = protowire.AppendTag(msg, 4, protowire.BytesType)
		msg = protowire.AppendBytes(msg, observed.Bytes())
	}
	return msg
}

func (h *Host) buildIdentify() []byte {
	addrs := h.Addrs()
	var b []byte
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, identifyProtocolVersion)
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	b = protowire.AppendString(b, h.cfg.AgentVersion)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, identity.Ed25519PublicKey(h.cfg.Key.Public().(ed25519.PublicKey)).Marshal())
	for _, a := range addrs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, a.Bytes())
	}
	for _, p := range h.Protocols() {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, p)
	}
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, h.signedPeerRecord(addrs))
	return b
}

// signedPeerRecord is a PeerRecord envelope (specs RFC 0003) carrying our
// addresses, so go-libp2p peers store them as certified.
func (h *Host) signedPeerRecord(addrs []ma.Multiaddr) []byte {
	var rec []byte
	rec = protowire.AppendTag(rec, 1, protowire.BytesType)
	rec = protowire.AppendBytes(rec, h.id.Bytes())
	rec = protowire.AppendTag(rec, 2, protowire.VarintType)
	rec = protowire.AppendVarint(rec, uint64(time.Now().UnixNano()))
	for _, a := range addrs {
		var info []byte
		info = protowire.AppendTag(info, 1, protowire.BytesType)
		info = protowire.AppendBytes(info, a.Bytes())
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendBytes(rec, info)
	}
	return identity.Seal(h.cfg.Key, peerRecordDomain, peerRecordPayloadType(), rec)
}
