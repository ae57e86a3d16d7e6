package circuit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/pbio"
)

// StatusError is a relay's refusal, carrying the spec's status code.
type StatusError struct {
	Status wire.Status
}

func (e *StatusError) Error() string { return "relay refused: " + e.Status.String() }

// ReservationInfo is what a relay granted.
type ReservationInfo struct {
	Expire time.Time
	Addrs  []ma.Multiaddr
	Limit  *wire.Limit // nil: circuits are unlimited
}

// Reserve asks the relay (already connected through h) for a reservation,
// and checks the reply the way go-libp2p does: an expiry in the future,
// parseable addresses, and a voucher signed by the relay for us.
func Reserve(ctx context.Context, h *host.Host, relay identity.PeerID) (*ReservationInfo, error) {
	st, err := openHop(ctx, h, relay, &wire.HopMessage{Type: wire.HopReserve})
	if err != nil {
		return nil, fmt.Errorf("reserve with %s: %w", relay, err)
	}
	defer st.Close()
	resp, err := readStatus(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("reserve with %s: %w", relay, err)
	}
	if resp.Reservation == nil {
		return nil, fmt.Errorf("reserve with %s: reply has no reservation", relay)
	}
	info, err := checkReservation(resp.Reservation, relay, h.ID())
	if err != nil {
		return nil, fmt.Errorf("reserve with %s: %w", relay, err)
	}
	info.Limit = resp.Limit
	return info, nil
}

func checkReservation(r *wire.Reservation, relay, self identity.PeerID) (*ReservationInfo, error) {
	info := &ReservationInfo{Expire: time.Unix(int64(r.Expire), 0)}
	if !info.Expire.After(time.Now()) {
		return nil, fmt.Errorf("reservation already expired at %v", info.Expire)
	}
	for _, b := range r.Addrs {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			info.Addrs = append(info.Addrs, a)
		}
	}
	if len(info.Addrs) == 0 {
		return nil, errors.New("reservation carries no usable address")
	}
	if r.Voucher == nil {
		return info, nil
	}
	env, err := identity.OpenEnvelope(r.Voucher, wire.VoucherDomain)
	if err != nil {
		return nil, fmt.Errorf("voucher: %w", err)
	}
	v, err := wire.ParseVoucher(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("voucher: %w", err)
	}
	switch {
	case !bytes.Equal(env.PayloadType, wire.VoucherPayloadType()):
		return nil, fmt.Errorf("voucher payload type %x", env.PayloadType)
	case env.Signer() != relay || string(v.Relay) != string(relay):
		return nil, errors.New("voucher not signed by the relay")
	case string(v.Peer) != string(self):
		return nil, errors.New("voucher is for another peer")
	case v.Expiration != r.Expire:
		return nil, errors.New("voucher expiration differs from the reservation's")
	}
	return info, nil
}

// Connect opens a circuit through relay to target. On success the stream
// is a raw byte pipe to target; the limit (nil = unlimited) is the relay's.
func Connect(ctx context.Context, h *host.Host, relay, target identity.PeerID) (*host.Stream, *wire.Limit, error) {
	st, err := openHop(ctx, h, relay, &wire.HopMessage{Type: wire.HopConnect, Peer: &wire.Peer{ID: target.Bytes()}})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s via %s: %w", target, relay, err)
	}
	resp, err := readStatus(ctx, st)
	if err != nil {
		st.Reset()
		return nil, nil, fmt.Errorf("connect to %s via %s: %w", target, relay, err)
	}
	return st, resp.Limit, nil
}

// openHop opens a hop stream to relay with req sent in the same write as
// the stream's protocol negotiation (host.NewStreamPipelined): a relay
// speaks hop, and waiting for its answer first would cost a round trip.
func openHop(ctx context.Context, h *host.Host, relay identity.PeerID, req *wire.HopMessage) (*host.Stream, error) {
	return h.NewStreamPipelined(ctx, relay, wire.ProtoHop, pbio.AppendDelimited(nil, req.Append(nil)))
}

// readStatus reads the STATUS reply to the hop request sent by openHop,
// bounded by ctx; a status other than OK is a *StatusError.
func readStatus(ctx context.Context, st *host.Stream) (wire.HopMessage, error) {
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := readHop(st)
	if err != nil {
		return wire.HopMessage{}, err
	}
	if resp.Type != wire.HopStatus {
		return wire.HopMessage{}, fmt.Errorf("unexpected hop reply type %d", resp.Type)
	}
	if resp.Status != wire.StatusOK {
		return wire.HopMessage{}, &StatusError{Status: resp.Status}
	}
	st.SetDeadline(time.Time{})
	return resp, nil
}

// StopHandler returns the handler a reserving peer registers for
// wire.ProtoStop: it accepts every CONNECT and passes the stream (now a raw
// pipe from src) to accept, which owns it.
func StopHandler(accept func(src identity.PeerID, lim *wire.Limit, s *host.Stream)) host.Handler {
	return func(st *host.Stream) {
		st.SetDeadline(time.Now().Add(time.Minute))
		b, err := pbio.ReadDelimited(st, wire.MaxMessageSize)
		if err != nil {
			st.Reset()
			return
		}
		req, err := wire.ParseStop(b)
		var src identity.PeerID
		if err == nil && req.Type == wire.StopConnect && req.Peer != nil {
			src, err = identity.IDFromBytes(req.Peer.ID)
		} else if err == nil {
			err = errors.New("not a CONNECT")
		}
		if err != nil {
			pbio.WriteDelimited(st, (&wire.StopMessage{Type: wire.StopStatus, Status: wire.StatusMalformedMessage}).Append(nil))
			st.Close()
			return
		}
		if err := pbio.WriteDelimited(st, (&wire.StopMessage{Type: wire.StopStatus, Status: wire.StatusOK}).Append(nil)); err != nil {
			st.Reset()
			return
		}
		st.SetDeadline(time.Time{})
		accept(src, req.Limit, st)
	}
}
