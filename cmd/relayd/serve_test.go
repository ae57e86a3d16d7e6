package main

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestDefaultListenKeepsChosenAddresses(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	chosen := []string{"/ip6/::1/tcp/0", "/ip4/127.0.0.1/tcp/0"}
	if got := defaultListen(chosen, logger); !slices.Equal(got, chosen) {
		t.Fatalf("operator's addresses changed: %v", got)
	}
	def := defaultConfig().Listen
	got := defaultListen(def, logger)
	if ipv6Available() && !slices.Equal(got, def) {
		t.Fatalf("defaults changed on a machine with IPv6: %v", got)
	}
	for _, a := range got {
		if !ipv6Available() && strings.HasPrefix(a, "/ip6/") {
			t.Fatalf("IPv6 default kept without IPv6: %v", got)
		}
	}
}
