package wire

import "strconv"

// Status is the top-level Status enum of circuit.proto. Values we do not
// know are kept as they are (proto3 enums are open).
type Status uint32

// Status values from the spec.
const (
	StatusUnused                Status = 0
	StatusOK                    Status = 100
	StatusReservationRefused    Status = 200
	StatusResourceLimitExceeded Status = 201
	StatusPermissionDenied      Status = 202
	StatusConnectionFailed      Status = 203
	StatusNoReservation         Status = 204
	StatusMalformedMessage      Status = 400
	StatusUnexpectedMessage     Status = 401
)

var statusNames = map[Status]string{
	StatusUnused:                "UNUSED",
	StatusOK:                    "OK",
	StatusReservationRefused:    "RESERVATION_REFUSED",
	StatusResourceLimitExceeded: "RESOURCE_LIMIT_EXCEEDED",
	StatusPermissionDenied:      "PERMISSION_DENIED",
	StatusConnectionFailed:      "CONNECTION_FAILED",
	StatusNoReservation:         "NO_RESERVATION",
	StatusMalformedMessage:      "MALFORMED_MESSAGE",
	StatusUnexpectedMessage:     "UNEXPECTED_MESSAGE",
}

// String returns the spec name, or "Status(n)" for an unknown value.
func (s Status) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return "Status(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// HopType is HopMessage.Type.
type HopType uint32

// HopMessage types.
const (
	HopReserve HopType = 0
	HopConnect HopType = 1
	HopStatus  HopType = 2
)

func (t HopType) String() string {
	return enumName([]string{"RESERVE", "CONNECT", "STATUS"}, uint32(t), "HopType")
}

// StopType is StopMessage.Type.
type StopType uint32

// StopMessage types.
const (
	StopConnect StopType = 0
	StopStatus  StopType = 1
)

func (t StopType) String() string {
	return enumName([]string{"CONNECT", "STATUS"}, uint32(t), "StopType")
}

func enumName(names []string, v uint32, typ string) string {
	if uint64(v) < uint64(len(names)) {
		return names[v]
	}
	return typ + "(" + strconv.FormatUint(uint64(v), 10) + ")"
}
