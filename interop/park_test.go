package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// parkedNow: of relayd's debug lines saying that p's connection parked or
// unparked, the last one kept says parked.
func parkedNow(r *relayProc, p peer.ID) bool {
	parked := false
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if !strings.Contains(line, p.String()) {
			continue
		}
		switch {
		case strings.Contains(line, `"msg":"connection parked"`):
			parked = true
		case strings.Contains(line, `"msg":"connection unparked"`):
			parked = false
		}
	}
	return parked
}

func waitParked(t *testing.T, r *relayProc, p peer.ID, when string) {
	t.Helper()
	if !waitFor(10*time.Second, func() bool { return parkedNow(r, p) }) {
		t.Fatalf("%s: relayd never parked %s's connection; last log lines:\n%s", when, p, r.logs.String())
	}
}

// TestParkedTarget: relayd parks a reserved go-libp2p peer's idle
// connection (its yamux session shut down, park_idle) and the peer stays
// reachable: circuits to it work, three times over, each one after
// another park. Each circuit makes relayd open a stop stream on a
// connection whose earlier session is gone, so go-libp2p's yamux sees
// the stream IDs go on across sessions; its own streams (a ping) wake the
// connection too. The peer reserves over TCP, or over a WebSocket with
// and without TLS, whose reads relayd interrupts between two messages to
// park it (p2p/transport/ws boundary.go).
func TestParkedTarget(t *testing.T) {
	ca := newTestCA(t)
	r := startAllTransports(t, ca, "--unlimited", "--park-idle", "200ms")
	for _, tr := range []string{"tcp", "ws", "wss"} {
		t.Run(tr, func(t *testing.T) {
			a := newAllTransportsHost(t, ca)
			a.SetStreamHandler(echoProto, handleEcho)
			reserveOver(t, a, r, tr)
			checkParkedTarget(t, r, a)
		})
	}
}

func checkParkedTarget(t *testing.T, r *relayProc, a host.Host) {
	t.Helper()
	for round := range 3 {
		waitParked(t, r, a.ID(), fmt.Sprintf("round %d", round))
		b := newHost(t)
		dialCircuit(t, b, r, a.ID())
		payload := randomBytes(t, 256<<10)
		res, err := echo(limitedCtx(t, streamTimeout), b, a.ID(), payload)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if res.writeErr != nil || res.readErr != nil || res.echoed != len(payload) {
			t.Fatalf("round %d: echo wrote %d (err %v), echoed %d of %d (err %v)",
				round, res.sent, res.writeErr, res.echoed, len(payload), res.readErr)
		}
		b.Close()
	}
	// The target's own stream to the relay wakes a parked connection too.
	waitParked(t, r, a.ID(), "after the circuits")
	unparked := unparkedLines(r, a.ID())
	res := <-ping.Ping(limitedCtx(t, streamTimeout), a, r.Info.ID)
	if res.Error != nil {
		t.Fatalf("ping relayd over a parked connection: %v", res.Error)
	}
	if !waitFor(5*time.Second, func() bool { return unparkedLines(r, a.ID()) > unparked }) {
		t.Error("relayd answered the ping without unparking")
	}
}

// unparkedLines counts the kept log lines saying p's connection unparked.
func unparkedLines(r *relayProc, p peer.ID) int {
	n := 0
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if strings.Contains(line, p.String()) && strings.Contains(line, `"msg":"connection unparked"`) {
			n++
		}
	}
	return n
}
