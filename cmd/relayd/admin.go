package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/metrics"
	"github.com/relayd/relayd/relay"
)

// adminShutdownTimeout bounds the wait for in-flight admin requests (a
// scrape) at exit; a running CPU profile is cut off after it.
const adminShutdownTimeout = 5 * time.Second

// startAdmin serves the admin endpoints on cfg.AdminListen until stop is
// called; an empty address disables them and stop does nothing. pending
// (may be nil) lists what /readyz reports as still pending. It binds
// before returning, so a taken port fails the start.
func startAdmin(cfg Config, g prometheus.Gatherer, r *relay.Relay, pending func() []string, logger *slog.Logger) (stop func(), err error) {
	if cfg.AdminListen == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin_listen: %w", err)
	}
	logger = logger.With("component", "admin")
	srv := metrics.NewAdminServer(metrics.NewAdminHandler(metrics.AdminConfig{
		Gatherer: g, Ready: r.Ready, Status: r.Status, Pending: pending, Pprof: cfg.Pprof, Logger: logger,
	}), logger)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin endpoint failed", "err", err)
		}
	}()
	logAdmin(logger, l.Addr(), cfg.Pprof)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminShutdownTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
		<-done
	}, nil
}

// logAdmin says where the endpoint is, and warns when it is reachable
// from beyond this machine: nothing on it asks who is calling.
func logAdmin(logger *slog.Logger, addr net.Addr, pprof bool) {
	logger.Info("admin listening", "addr", addr.String(), "pprof", pprof)
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		logger.Warn("admin endpoint is not on loopback; it has no authentication", "addr", addr.String())
	}
}
