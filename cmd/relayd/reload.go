package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"syscall"

	"github.com/relayd/relayd/relay"
)

// reloadable are the keys SIGHUP applies to a running relay; a change to
// any other key is logged and waits for a restart.
var reloadable = []string{
	"max_reservations", "max_reservations_per_ip", "max_reservations_per_subnet",
	"max_circuits", "max_circuits_per_peer", "limit_duration", "limit_data", "limit_rate", "unlimited",
	"reserve_rate_per_ip", "reserve_rate_per_peer", "connect_rate_per_ip", "connect_rate_per_peer",
	"deny_peers", "deny_cidrs", "allow_peers", "allow_cidrs", "classes", "max_conns", "conn_rate_per_ip",
}

// loader produces the config again from the same sources (file,
// environment, flags: flags still win), validated.
type loader func() (Config, error)

func loaderFor(args []string) loader {
	return func() (Config, error) {
		cfg, _, err := loadConfig(args, os.LookupEnv)
		if err != nil {
			return Config{}, err
		}
		if err := cfg.Validate(); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		return cfg, nil
	}
}

// watchReload applies the reloadable keys on every SIGHUP until stop is
// called. An invalid config is logged and changes nothing.
func watchReload(r *relay.Relay, cur Config, load loader, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-hup:
				cur = reload(r, cur, load, logger)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}

// reload applies what load returns and returns the config now in force.
func reload(r *relay.Relay, cur Config, load loader, logger *slog.Logger) Config {
	next, err := load()
	if err == nil {
		err = applyPolicy(r, next)
	}
	if err != nil {
		logger.Error("SIGHUP: config rejected, the running config stays", "err", err)
		return cur
	}
	if keys := restartKeys(cur, next); len(keys) > 0 {
		logger.Warn("SIGHUP: these keys changed but apply only after a restart", "keys", keys)
	}
	logger.Info("SIGHUP: config reloaded")
	return next
}

func applyPolicy(r *relay.Relay, c Config) error {
	pol, err := policyOf(c)
	if err != nil {
		return err
	}
	return r.Reload(pol.limits, pol.conns)
}

// restartKeys lists the keys outside reloadable whose values differ.
func restartKeys(a, b Config) []string {
	var keys []string
	bb := bindings(&b)
	for i, ba := range bindings(&a) {
		if slices.Contains(reloadable, ba.key) {
			continue
		}
		if !reflect.DeepEqual(reflect.ValueOf(ba.value.field()).Elem().Interface(), reflect.ValueOf(bb[i].value.field()).Elem().Interface()) {
			keys = append(keys, ba.key)
		}
	}
	return keys
}
