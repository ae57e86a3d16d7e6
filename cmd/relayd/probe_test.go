package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// TestProbeAgainstRelay runs `relayd probe` against an in-process relay:
// relayd's own client code doing the reserve / connect / echo round trip.
func TestProbeAgainstRelay(t *testing.T) {
	leakcheck.Check(t)
	key, _ := identity.GenerateKey()
	r, err := relay.New(relay.Config{Key: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx) }()
	defer func() { cancel(); <-done; r.Close() }()

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"probe", "--timeout", "20s", "--bytes", "65536", r.Addrs()[0].String()}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("probe exit %d: %s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"reserve", "connect", "echo 65536 bytes", "120s / 131072 bytes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestProbeUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "want one RELAY_MULTIADDR"},
		{[]string{"probe", "/ip4/127.0.0.1/tcp/1"}, "does not end in /p2p/"},
		{[]string{"probe", "not-an-addr"}, "invalid multiaddr"},
		{[]string{"probe", "--nope", "x"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(errOut.String(), tt.want) || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line containing %q", tt.args, errOut.String(), tt.want)
		}
	}
}

func TestProbeUnreachableRelayFails(t *testing.T) {
	key, _ := identity.GenerateKey()
	addr := "/ip4/127.0.0.1/tcp/1/p2p/" + identity.PeerIDOf(key).String()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"probe", "--timeout", "5s", addr}, &out, &errOut); code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
}

// TestProbeChecksWhatAReceived: the probe fails unless peer A itself saw
// exactly the bytes B sent (a relay that echoed by itself would pass B's
// comparison alone).
func TestProbeChecksWhatAReceived(t *testing.T) {
	msg := []byte("probe payload")
	sum := sha256.Sum256(msg)
	tests := []struct {
		name string
		e    echoed
		ok   bool
	}{
		{"same bytes", echoed{n: int64(len(msg)), sum: sum}, true},
		{"nothing reached A", echoed{sum: sha256.Sum256(nil)}, false},
		{"other bytes", echoed{n: int64(len(msg)), sum: sha256.Sum256([]byte("other payload"))}, false},
		{"A's echo failed", echoed{n: int64(len(msg)), sum: sum, err: errors.New("stream reset")}, false},
	}
	for _, tt := range tests {
		if err := tt.e.check(len(msg), sum); (err == nil) != tt.ok {
			t.Errorf("%s: check = %v", tt.name, err)
		}
	}
}
