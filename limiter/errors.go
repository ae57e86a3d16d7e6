package limiter

import (
	"errors"

	"github.com/relayd/relayd/circuit/wire"
)

// Refusals: one sentinel per outcome. Refusal maps each to its status code
// and label.
var (
	// ErrDenied: the peer or its address is on a deny list.
	ErrDenied = errors.New("denied by ACL")
	// ErrRate: a request rate (per IP or per peer) is exceeded.
	ErrRate = errors.New("request rate exceeded")
	// ErrIPQuota: the reservations from one IP (IPv6: one /64) are at
	// their cap.
	ErrIPQuota = errors.New("reservations per IP reached")
	// ErrSubnetQuota: the reservations from one /24 (IPv6: /56) are at
	// their cap.
	ErrSubnetQuota = errors.New("reservations per subnet reached")
	// ErrTotalQuota: the node holds as many reservations as it may.
	ErrTotalQuota = errors.New("reservation quota reached")
	// ErrCircuitQuota: one end of a circuit has as many open as its class
	// allows.
	ErrCircuitQuota = errors.New("circuit quota reached")
	// ErrTotalCircuits: the node relays as many circuits as it may.
	ErrTotalCircuits = errors.New("total circuit quota reached")
	// ErrFleetUnavailable: the fleet's shared state (Redis) cannot be
	// reached and the node refuses what it cannot check fleet-wide.
	ErrFleetUnavailable = errors.New("fleet state unavailable")
)

// Request names the hop request a decision is about; it is also the
// "request" label of logs and metrics.
type Request string

// Requests.
const (
	RequestReserve Request = "reserve"
	RequestConnect Request = "connect"
)

// refusals is the one table from a policy outcome to what the client
// reads (the spec's status for each request) and the reason label logs and
// metrics carry.
var refusals = []struct {
	err              error
	reason           string
	reserve, connect wire.Status
}{
	{ErrDenied, "acl_denied", wire.StatusPermissionDenied, wire.StatusPermissionDenied},
	{ErrRate, "rate", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{ErrIPQuota, "ip_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{ErrSubnetQuota, "subnet_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{ErrTotalQuota, "total_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{ErrCircuitQuota, "circuit_quota", wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
	{ErrTotalCircuits, "total_circuit_quota", wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
	{ErrFleetUnavailable, "fleet_unavailable", wire.StatusReservationRefused, wire.StatusConnectionFailed},
}

// Refusal is the status code and reason label to answer req with when it
// failed with err. An error outside the table (a store failure) is
// RESERVATION_REFUSED or CONNECTION_FAILED with reason "error".
func Refusal(err error, req Request) (wire.Status, string) {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			if req == RequestConnect {
				return r.connect, r.reason
			}
			return r.reserve, r.reason
		}
	}
	if req == RequestConnect {
		return wire.StatusConnectionFailed, "error"
	}
	return wire.StatusReservationRefused, "error"
}

// Reason is err's label in the table, "error" outside it.
func Reason(err error) string {
	_, reason := Refusal(err, RequestReserve)
	return reason
}

// Reasons lists the table's labels, for metrics to create at 0.
func Reasons() []string {
	out := make([]string, len(refusals))
	for i, r := range refusals {
		out[i] = r.reason
	}
	return out
}
