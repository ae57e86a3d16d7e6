package circuit

import (
	"errors"
	"fmt"
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
)

// ErrForwardRefused: this node answered a forwarded circuit with a status
// other than OK; the error says why.
var ErrForwardRefused = errors.New("forwarded circuit refused")

// HandleForwarded serves a circuit that another fleet node forwards here
// on st (a mesh stream, past its request): it checks that this node holds
// req.Dst, opens the stop stream from req.Src with req.Limit, calls answer
// with the outcome, and on OK splices st with the stop stream until the
// circuit ends, which it reports. A refusal is answered with its status
// and returned as an error wrapping ErrForwardRefused; then st is the
// caller's to close.
//
// The entry node counts the circuit (relayd_circuits_*) and enforces its
// limits; this node splices it without limits and without counting it in
// the circuit metrics, so a fleet counts every circuit once.
func (s *Service) HandleForwarded(st Stream, req ForwardRequest, answer func(wire.Status) error) (End, error) {
	s.connects.Add(1) // drains wait for forwarded circuits too
	defer s.connects.Add(-1)
	status, err := s.acceptForwarded(req)
	if err != nil {
		s.log.Debug("forwarded circuit refused", "src", req.Src, "dst", req.Dst, "node", req.Node, "status", status, "err", err)
		answer(status)
		return EndError, fmt.Errorf("%w: %w", ErrForwardRefused, err)
	}
	dst, err := s.openStop(req.Src, req.Dst, req.Limit)
	if err != nil {
		answer(wire.StatusConnectionFailed)
		return EndError, fmt.Errorf("%w: %w", ErrForwardRefused, err)
	}
	if err := answer(wire.StatusOK); err != nil {
		dst.Reset()
		st.Reset()
		return EndError, err
	}
	s.log.Debug("forwarded circuit opened", "src", req.Src, "dst", req.Dst, "node", req.Node)
	start := time.Now()
	end := s.splice(st, hostStream{dst}, limiter.Limit{}, NopTracer{})
	s.log.Debug("forwarded circuit closed", "src", req.Src, "dst", req.Dst, "end", end, "lifetime", time.Since(start))
	return end, nil
}

// acceptForwarded checks a forwarded circuit may open here.
func (s *Service) acceptForwarded(req ForwardRequest) (wire.Status, error) {
	if s.draining.Load() {
		return wire.StatusResourceLimitExceeded, errors.New("draining")
	}
	// Never forwarded on: a circuit crosses the mesh at most once.
	_, status, _, err := s.checkReservation(req.Dst, false)
	return status, err
}
