package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/limiter"
)

// resultOK is the requests_total result of an accepted request; every
// other result is the refusal's reason label.
const resultOK = "ok"

// refusalReasons are the reasons the circuit service gives itself (base)
// plus every policy reason of the limiter, each once.
func refusalReasons(base ...string) []string {
	out := slices.Clone(base)
	for _, r := range limiter.Reasons() {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// ReserveRefusals are the RESERVE refusal reasons created at zero.
func ReserveRefusals() []string { return refusalReasons("relayed_conn", "error", "draining") }

// Reservations counts RESERVE requests and the slots they hold.
type Reservations struct {
	requests      *prometheus.CounterVec
	ok            prometheus.Counter
	refreshes     prometheus.Counter
	expirations   prometheus.Counter
	disconnection prometheus.Counter
}

// NewReservations builds the reservation collectors and registers them on
// reg. active reports the slots held now; it is read at scrape time, so
// the gauge is the limiter's own count and cannot drift from it.
func NewReservations(reg prometheus.Registerer, active func() int) *Reservations {
	r := &Reservations{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_reservations_requests_total",
			Help: `RESERVE requests answered, by result: "ok" or the refusal reason.`,
		}, []string{"result"}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_reservations_refreshes_total",
			Help: "Accepted RESERVE requests that renewed a slot the peer already held.",
		}),
		expirations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_reservations_expirations_total",
			Help: "Reservations dropped because they expired without a refresh.",
		}),
		disconnection: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_reservations_disconnections_total",
			Help: "Reservations dropped because the peer's last connection closed.",
		}),
	}
	r.ok = r.requests.WithLabelValues(resultOK)
	for _, reason := range ReserveRefusals() {
		r.requests.WithLabelValues(reason)
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "relayd_reservations_active",
		Help: "Reservation slots this node holds now.",
	}, func() float64 { return float64(active()) })
	reg.MustRegister(gauge, r.requests, r.refreshes, r.expirations, r.disconnection)
	return r
}

// Accepted counts an OK answer to RESERVE.
func (r *Reservations) Accepted(refreshed bool) {
	r.ok.Inc()
	if refreshed {
		r.refreshes.Inc()
	}
}

// Refused counts a refused RESERVE.
func (r *Reservations) Refused(reason string) {
	r.requests.WithLabelValues(reason).Inc()
}

// Ended counts a slot's end: "expired" or "disconnected" (circuit.Tracer's
// two reasons); any other reason is not counted.
func (r *Reservations) Ended(reason string) {
	switch reason {
	case "expired":
		r.expirations.Inc()
	case "disconnected":
		r.disconnection.Inc()
	}
}
