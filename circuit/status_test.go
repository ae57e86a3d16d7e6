package circuit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
)

func TestRefusalTable(t *testing.T) {
	tests := []struct {
		err              error
		reason           string
		reserve, connect wire.Status
	}{
		{limiter.ErrDenied, "acl_denied", wire.StatusPermissionDenied, wire.StatusPermissionDenied},
		{fmt.Errorf("wrapped: %w", limiter.ErrRate), "rate", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
		{limiter.ErrIPQuota, "ip_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
		{limiter.ErrSubnetQuota, "subnet_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
		{limiter.ErrTotalQuota, "total_quota", wire.StatusReservationRefused, wire.StatusResourceLimitExceeded},
		{limiter.ErrCircuitQuota, "circuit_quota", wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
		{limiter.ErrTotalCircuits, "total_circuit_quota", wire.StatusResourceLimitExceeded, wire.StatusResourceLimitExceeded},
		{errors.New("store down"), "error", wire.StatusReservationRefused, wire.StatusConnectionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			if st, r := refusal(tt.err, limiter.RequestReserve); st != tt.reserve || r != tt.reason {
				t.Errorf("reserve: %v %q", st, r)
			}
			if st, r := refusal(tt.err, limiter.RequestConnect); st != tt.connect || r != tt.reason {
				t.Errorf("connect: %v %q", st, r)
			}
		})
	}
	if len(refusalStatuses) != len(limiter.Reasons()) {
		t.Errorf("%d statuses for %d limiter reasons: the tables disagree", len(refusalStatuses), len(limiter.Reasons()))
	}
}
