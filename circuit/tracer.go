package circuit

import "time"

// Tracer receives the service's events; metrics implement it. Methods must
// be cheap and must not block: BytesRelayed runs once per copied buffer.
type Tracer interface {
	// ReservationAccepted follows an OK reply to RESERVE.
	ReservationAccepted(refreshed bool)
	// ReservationEnded follows a slot's end: "expired" or "disconnected".
	ReservationEnded(reason string)
	// HopRefused follows any refused hop request. request is "reserve",
	// "connect" or "unknown" (unparseable, or a type we do not serve);
	// reason is the refusal's label.
	HopRefused(request, reason string)
	// CircuitOpened follows an OK reply to CONNECT.
	CircuitOpened()
	// CircuitClosed follows a circuit's end.
	CircuitClosed(end End, lifetime time.Duration)
	// BytesRelayed counts n bytes copied; toDst tells the direction.
	BytesRelayed(toDst bool, n int)
}

// NopTracer ignores every event; it is the default.
type NopTracer struct{}

func (NopTracer) ReservationAccepted(bool)         {}
func (NopTracer) ReservationEnded(string)          {}
func (NopTracer) HopRefused(string, string)        {}
func (NopTracer) CircuitOpened()                   {}
func (NopTracer) CircuitClosed(End, time.Duration) {}
func (NopTracer) BytesRelayed(bool, int)           {}
