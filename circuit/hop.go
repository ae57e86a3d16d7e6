package circuit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/pbio"
	"github.com/relayd/relayd/reservation"
)

// HandleHop serves one hop stream: a single RESERVE or CONNECT request.
func (s *Service) HandleHop(st *host.Stream) {
	st.SetDeadline(s.cfg.Now().Add(s.cfg.StreamTimeout))
	msg, err := readHop(st)
	if err != nil {
		if errors.Is(err, io.EOF) {
			st.Close()
			return
		}
		s.refuse(st, "unknown", wire.StatusMalformedMessage, "malformed", err)
		return
	}
	switch msg.Type {
	case wire.HopReserve:
		s.reserve(st)
	case wire.HopConnect:
		s.connect(st, msg)
	default:
		s.refuse(st, "unknown", wire.StatusMalformedMessage, "unexpected_type", fmt.Errorf("hop message type %d", msg.Type))
	}
}

func readHop(r io.Reader) (wire.HopMessage, error) {
	b, err := pbio.ReadDelimited(r, wire.MaxMessageSize)
	if err != nil {
		return wire.HopMessage{}, err
	}
	return wire.ParseHop(b)
}

func writeHop(w io.Writer, m *wire.HopMessage) error {
	return pbio.WriteDelimited(w, m.Append(nil))
}

// refuse answers a hop request with status, logs why at debug and ends
// the stream. It is the one place every refusal goes through.
func (s *Service) refuse(st *host.Stream, request string, status wire.Status, reason string, err error) {
	s.trace.HopRefused(request, reason)
	s.log.Debug("hop refused", "peer", st.Conn().RemotePeer(), "class", s.lim.ClassOf(peerOf(st.Conn())),
		"request", request, "status", status, "reason", reason, "err", err)
	if werr := writeHop(st, &wire.HopMessage{Type: wire.HopStatus, Status: status}); werr != nil {
		st.Reset()
		return
	}
	st.Close()
}

func (s *Service) reserve(st *host.Stream) {
	if s.draining.Load() {
		s.refuse(st, "reserve", wire.StatusReservationRefused, "draining", nil)
		return
	}
	c := st.Conn()
	if c.Relayed() {
		s.refuse(st, "reserve", wire.StatusPermissionDenied, "relayed_conn", nil)
		return
	}
	p := peerOf(c)
	if _, err := s.lim.CheckReserve(p); err != nil {
		s.refusePolicy(st, limiter.RequestReserve, err)
		return
	}
	expire := s.cfg.Now().Add(s.cfg.ReservationTTL).Truncate(time.Second)
	g, refreshed, err := s.record(p, expire)
	if err != nil {
		s.refusePolicy(st, limiter.RequestReserve, err)
		return
	}
	resp := &wire.HopMessage{
		Type:   wire.HopStatus,
		Status: wire.StatusOK,
		Reservation: &wire.Reservation{
			Expire:  uint64(expire.Unix()),
			Addrs:   s.reservationAddrs(),
			Voucher: s.voucher(p.ID, expire),
		},
		Limit: wireLimit(g),
	}
	if err := writeHop(st, resp); err != nil {
		// The slot stays: the peer may retry, and the sweep or its
		// disconnect frees it.
		s.log.Debug("reservation reply failed", "peer", p.ID, "err", err)
		st.Reset()
		return
	}
	s.trace.ReservationAccepted(refreshed)
	s.log.Debug("reserved", "peer", p.ID, "class", g.Class, "refreshed", refreshed, "expire", expire)
	st.Close()
}

// errPeerGone: the reserving peer disconnected before its slot was taken.
var errPeerGone = errors.New("peer no longer connected")

// record takes (or keeps) the peer's slot and writes the reservation.
func (s *Service) record(p limiter.Peer, expire time.Time) (g limiter.Grant, refreshed bool, err error) {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	// Checked under reserveMu: if the peer's last connection closed while
	// this request was read, PeerDisconnected has run or will wait for us,
	// and a slot taken now would outlive the peer until the sweep.
	if len(s.host.ConnsToPeer(p.ID)) == 0 {
		return g, false, fmt.Errorf("reserve %s: %w", p.ID, errPeerGone)
	}
	g, held, err := s.lim.Reserve(p)
	if err != nil {
		return g, false, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	refreshed, err = s.store.Put(ctx, reservation.Reservation{Peer: p.ID, Node: s.cfg.NodeID, Expire: expire, Addr: p.IP})
	if err != nil {
		if !held { // a refresh that failed leaves the slot it refreshed
			s.lim.Release(p.ID)
		}
		return g, false, fmt.Errorf("reserve %s: %w", p.ID, err)
	}
	return g, refreshed, nil
}

// reservationAddrs are the relay's advertised addresses, each ending in
// /p2p/<relay> exactly once. Never empty while the host listens. The
// encoding is kept while the host's addresses stay the same, as they do
// between two listener or announce changes: building it anew (a base58
// peer ID parsed per address) was a few percent of a reservation's CPU.
// The slices returned are shared: callers only encode them.
func (s *Service) reservationAddrs() [][]byte {
	addrs := s.host.Addrs()
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if s.addrOut != nil && slices.EqualFunc(addrs, s.addrIn, ma.Multiaddr.Equal) {
		return s.addrOut
	}
	self, _ := ma.NewComponent("p2p", s.host.ID().String())
	out := make([][]byte, 0, len(addrs))
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_P2P); err != nil {
			a = a.Encapsulate(self)
		}
		out = append(out, a.Bytes())
	}
	s.addrIn, s.addrOut = addrs, out
	return out
}
