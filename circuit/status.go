package circuit

import (
	"errors"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
)

// refusalStatuses is the one table from a limiter refusal to the spec's
// status code for each request; the reason label is the limiter's.
var refusalStatuses = []struct {
	err              error
	reserve, connect wire.Status
}{
	{limiter.ErrDenied, wire.StatusPermissionDenied, wire.StatusPermissionDenied},
	{limiter.ErrRate, wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{limiter.ErrIPQuota, wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{limiter.ErrSubnetQuota, wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{limiter.ErrTotalQuota, wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
	{limiter.ErrCircuitQuota, wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
	{limiter.ErrTotalCircuits, wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
	{limiter.ErrFleetUnavailable, wire.StatusReservationRefused, wire.StatusConnectionFailed},
}

// refusal is the status code and reason label to answer req with when the
// limiter refused it with err. An error outside the table (a store
// failure) is RESERVATION_REFUSED or CONNECTION_FAILED with reason "error".
func refusal(err error, req limiter.Request) (wire.Status, string) {
	reason := limiter.Reason(err)
	for _, r := range refusalStatuses {
		if errors.Is(err, r.err) {
			if req == limiter.RequestConnect {
				return r.connect, reason
			}
			return r.reserve, reason
		}
	}
	if req == limiter.RequestConnect {
		return wire.StatusConnectionFailed, reason
	}
	return wire.StatusReservationRefused, reason
}
