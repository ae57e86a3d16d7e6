package circuit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/pbio"
	"github.com/relayd/relayd/reservation"
)

func (s *Service) connect(src *host.Stream, msg wire.HopMessage) {
	// Counted before the draining check: Drain sets its flag and then
	// reads the count, so it sees this request either here or there.
	s.connects.Add(1)
	defer s.connects.Add(-1)
	if s.draining.Load() {
		s.refuse(src, "connect", wire.StatusResourceLimitExceeded, "draining", nil)
		return
	}
	c := src.Conn()
	if c.Relayed() {
		s.refuse(src, "connect", wire.StatusPermissionDenied, "relayed_conn", nil)
		return
	}
	if msg.Peer == nil {
		s.refuse(src, "connect", wire.StatusMalformedMessage, "malformed", errors.New("CONNECT without peer"))
		return
	}
	dst, err := identity.IDFromBytes(msg.Peer.ID)
	if err != nil {
		s.refuse(src, "connect", wire.StatusMalformedMessage, "malformed", err)
		return
	}
	requester := peerOf(c)
	if _, err := s.lim.CheckConnect(requester, dst); err != nil {
		s.refusePolicy(src, limiter.RequestConnect, err)
		return
	}
	holder, status, reason, err := s.checkReservation(dst, s.cfg.Forwarder != nil)
	if err != nil {
		s.refuse(src, "connect", status, reason, err)
		return
	}
	circ, err := s.lim.OpenCircuit(requester, dst)
	if err != nil {
		s.refusePolicy(src, limiter.RequestConnect, err)
		return
	}
	defer circ.Close()
	lim := wireLimit(circ.Grant)
	dstStream, status, reason, err := s.openDst(holder, c.RemotePeer(), dst, lim)
	if err != nil {
		s.refuse(src, "connect", status, reason, err)
		return
	}
	if err := writeHop(src, &wire.HopMessage{Type: wire.HopStatus, Status: wire.StatusOK, Limit: lim}); err != nil {
		src.Reset()
		dstStream.Reset()
		return
	}
	s.trace.CircuitOpened()
	s.log.Debug("circuit opened", "src", c.RemotePeer(), "dst", dst, "class", circ.Class, "node", holder)
	start := time.Now()
	end := s.splice(hostStream{src}, dstStream, circ.Limit, s.trace)
	s.trace.CircuitClosed(end, time.Since(start))
	s.log.Debug("circuit closed", "src", c.RemotePeer(), "dst", dst, "end", end)
}

// checkReservation maps the store's answer to the node holding dst, or to
// a refusal. A reservation held by another node of a fleet is reachable
// only when forwarding is on.
func (s *Service) checkReservation(dst identity.PeerID, forwarding bool) (string, wire.Status, string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	r, err := s.store.Get(ctx, dst)
	switch {
	case errors.Is(err, reservation.ErrNotFound):
		return "", wire.StatusNoReservation, "no_reservation", err
	case err != nil:
		return "", wire.StatusConnectionFailed, "store_error", err
	case r.Node != s.cfg.NodeID && !forwarding:
		return "", wire.StatusNoReservation, "other_node", fmt.Errorf("reservation of %s held by node %s", dst, r.Node)
	}
	return r.Node, 0, "", nil
}

// openDst opens the circuit's leg to dst: the stop stream when this node
// holds dst, else a forwarded stream through the holder.
func (s *Service) openDst(holder string, src, dst identity.PeerID, lim *wire.Limit) (Stream, wire.Status, string, error) {
	if holder == s.cfg.NodeID {
		st, err := s.openStop(src, dst, lim)
		if err != nil {
			return nil, wire.StatusConnectionFailed, "stop_failed", err
		}
		return hostStream{st}, 0, "", nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout+s.cfg.StopTimeout)
	defer cancel()
	st, err := s.cfg.Forwarder.Forward(ctx, holder, src, dst, lim)
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return nil, se.Status, "forward_refused", err
	case err != nil:
		return nil, wire.StatusConnectionFailed, "forward_failed", err
	}
	return st, 0, "", nil
}

// openStop opens the stop stream on dst's existing connection and runs the
// CONNECT/STATUS exchange. Bytes dst sends after its STATUS stay in the
// stream for the splice.
//
// The stop CONNECT goes out with the stream's protocol negotiation, in one
// write (host.NewStreamPipelined, as go-libp2p's relay does for a peer whose
// protocols identify told it): dst holds a reservation, so it speaks the
// stop protocol, and waiting for its answer first would add a round trip to
// every circuit setup. A dst that refuses the protocol fails the CONNECT as
// before.
func (s *Service) openStop(src, dst identity.PeerID, lim *wire.Limit) (*host.Stream, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
	defer cancel()
	req := &wire.StopMessage{Type: wire.StopConnect, Peer: &wire.Peer{ID: src.Bytes()}, Limit: lim}
	st, err := s.host.NewStreamPipelined(ctx, dst, wire.ProtoStop, pbio.AppendDelimited(nil, req.Append(nil)))
	if err != nil {
		return nil, fmt.Errorf("stop request to %s: %w", dst, err)
	}
	st.SetDeadline(s.cfg.Now().Add(s.cfg.StopTimeout))
	resp, err := readStop(st)
	if err != nil {
		st.Reset()
		return nil, fmt.Errorf("stop reply from %s: %w", dst, err)
	}
	if resp.Type != wire.StopStatus || resp.Status != wire.StatusOK {
		st.Reset()
		return nil, fmt.Errorf("stop reply from %s: type %d status %v", dst, resp.Type, resp.Status)
	}
	st.SetDeadline(time.Time{})
	return st, nil
}

func readStop(r io.Reader) (wire.StopMessage, error) {
	b, err := pbio.ReadDelimited(r, wire.MaxMessageSize)
	if err != nil {
		return wire.StopMessage{}, err
	}
	return wire.ParseStop(b)
}
