package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
)

var _ circuit.Tracer = (*Relay)(nil)

// Relay holds the collectors of one relay node. It is the circuit.Tracer
// of the node's circuit service; Connections is its host.Tracer.
type Relay struct {
	Connections  *Connections
	Reservations *Reservations
	Circuits     *Circuits
}

// NewRelay registers a node's collectors on reg. activeReservations
// reports the reservation slots held now (see NewReservations).
func NewRelay(reg prometheus.Registerer, activeReservations func() int) *Relay {
	return &Relay{
		Connections:  NewConnections(reg),
		Reservations: NewReservations(reg, activeReservations),
		Circuits:     NewCircuits(reg),
	}
}

// ReservationAccepted implements circuit.Tracer.
func (r *Relay) ReservationAccepted(refreshed bool) { r.Reservations.Accepted(refreshed) }

// ReservationEnded implements circuit.Tracer.
func (r *Relay) ReservationEnded(reason string) { r.Reservations.Ended(reason) }

// HopRefused implements circuit.Tracer: "reserve" and "connect" refusals
// are request results of their subsystem, anything else is an invalid
// hop request.
func (r *Relay) HopRefused(request, reason string) {
	switch request {
	case "reserve":
		r.Reservations.Refused(reason)
	case "connect":
		r.Circuits.Refused(reason)
	default:
		r.Circuits.Invalid(reason)
	}
}

// CircuitOpened implements circuit.Tracer.
func (r *Relay) CircuitOpened() { r.Circuits.Opened() }

// CircuitClosed implements circuit.Tracer.
func (r *Relay) CircuitClosed(end circuit.End, lifetime time.Duration) {
	r.Circuits.Closed(end, lifetime)
}

// BytesRelayed implements circuit.Tracer; it does not allocate.
func (r *Relay) BytesRelayed(toDst bool, n int) { r.Circuits.BytesRelayed(toDst, n) }
