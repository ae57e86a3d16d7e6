package relay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
)

// newLimiter builds the node's policy engine, with its class-labelled
// collectors on reg (none when reg is nil).
func newLimiter(cfg limiter.Config, reg prometheus.Registerer) (*limiter.Limiter, error) {
	if reg == nil {
		return limiter.New(cfg)
	}
	var lim *limiter.Limiter // read only at scrape time, after New
	cfg.Tracer = limiter.NewMetrics(reg, cfg.ClassNames(), func() map[string]limiter.ClassCounts { return lim.Counts() })
	lim, err := limiter.New(cfg)
	return lim, err
}

// Reload applies new limits to every request and connection from now on:
// ACL classes, quotas, request rates, circuit caps and connection caps.
// Reservations, circuits and connections already granted keep what they
// have. An invalid config is an error and changes nothing.
func (r *Relay) Reload(limits limiter.Config, conns host.ConnLimits) error {
	if err := r.lim.Reload(limits); err != nil {
		return fmt.Errorf("relay: reload: %w", err)
	}
	r.host.ReloadConnLimits(conns)
	r.log.Info("limits reloaded", "classes", r.lim.Classes())
	return nil
}

// Reservations is the number of reservation slots this node holds.
func (r *Relay) Reservations() int { return r.lim.Reservations() }
