package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/relayd/relayd/fleet"
)

var redisPolicies = []string{string(fleet.PolicyLocal), string(fleet.PolicyRefuse)}

// fleetConfig is the relay's fleet membership, nil without redis.
func fleetConfig(c Config) *fleet.Config {
	if c.Redis == "" {
		return nil
	}
	return &fleet.Config{
		URL:            c.Redis,
		SentinelMaster: c.RedisSentinelMaster,
		Prefix:         c.RedisPrefix,
		NodeID:         c.NodeID,
		Unavailable:    fleet.Policy(c.RedisUnavailable),
		HeartbeatTTL:   c.HeartbeatTTL,
	}
}

// minHeartbeatTTL leaves a beat (every third of the TTL) room for a Redis
// operation's timeout before the node counts as gone.
const minHeartbeatTTL = 2 * time.Second

func checkHeartbeatTTL(d time.Duration) error {
	if d < minHeartbeatTTL {
		return fmt.Errorf("must be >= %s, got %s", minHeartbeatTTL, d)
	}
	return nil
}

func checkRedisURL(s string) error {
	if s == "" {
		return nil
	}
	return fleet.CheckURL(s)
}

func (c Config) checkSentinelMaster() error {
	if c.RedisSentinelMaster != "" && c.Redis == "" {
		return errors.New("needs redis (the Sentinel addresses)")
	}
	return nil
}

func checkRedisPrefix(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(s, "{}"):
		return fmt.Errorf("must not contain { or }, got %q", s)
	}
	return nil
}

// checkNodeID keeps node IDs printable and short: they are part of Redis
// keys and of log lines.
func checkNodeID(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("must be at most 253 bytes, got %d", len(s))
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return fmt.Errorf("must not contain spaces or control characters, got %q", s)
	}
	return nil
}
