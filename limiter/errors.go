package limiter

import "errors"

// Refusals: one sentinel per outcome. Reason maps each to its label;
// circuit maps each to the spec's status code.
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

// refusals is the one table from a policy outcome to the reason label logs
// and metrics carry. The status code a client reads for each is circuit's
// (circuit/status.go): the wire is not the limiter's business.
var refusals = []struct {
	err    error
	reason string
}{
	{ErrDenied, "acl_denied"},
	{ErrRate, "rate"},
	{ErrIPQuota, "ip_quota"},
	{ErrSubnetQuota, "subnet_quota"},
	{ErrTotalQuota, "total_quota"},
	{ErrCircuitQuota, "circuit_quota"},
	{ErrTotalCircuits, "total_circuit_quota"},
	{ErrFleetUnavailable, "fleet_unavailable"},
}

// Reason is err's label in the table, "error" outside it (a store failure).
func Reason(err error) string {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "error"
}

// Reasons lists the table's labels, for metrics to create at 0.
func Reasons() []string {
	out := make([]string, len(refusals))
	for i, r := range refusals {
		out[i] = r.reason
	}
	return out
}
