package interop

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
)

// TestACLClasses (relayd only: the reference relay has no ACL classes).
// With one peer on --allow-peers and one on --deny-peers:
//   - an untrusted peer's CONNECT carries the default Limit, and go-libp2p
//     marks the circuit limited on both ends: a stream opened without
//     WithAllowLimitedConn is refused;
//   - the allow-listed peer's CONNECT carries no Limit, so go-libp2p treats
//     the circuit as an ordinary connection (not limited on either end,
//     streams open with a plain context) and it carries more than the
//     default data cap;
//   - the denied peer's RESERVE gets PERMISSION_DENIED.
func TestACLClasses(t *testing.T) {
	if !slices.Contains(kinds(), kindRelayd) {
		t.Skip("relayd is not among RELAYD_INTEROP_KINDS")
	}
	trustedKey, trusted := newIdentity(t)
	deniedKey, denied := newIdentity(t)
	r := startRelay(t, kindRelayd, "--allow-peers", trusted.String(), "--deny-peers", denied.String())
	a := newTarget(t, r)

	t.Run("untrusted peer gets the default Limit", func(t *testing.T) {
		b := newHost(t)
		conn := dialCircuit(t, b, r, a.ID())
		if !conn.Stat().Limited {
			t.Error("dialer sees an unlimited conn, want the default Limit")
		}
		checkTargetLimited(t, a, b.ID(), true)
		// go-libp2p waits for a direct conn until ctx ends, then refuses.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s, err := b.NewStream(ctx, a.ID(), echoProto); err == nil {
			s.Reset()
			t.Error("go-libp2p opened a stream on a limited conn without WithAllowLimitedConn")
		}
	})

	t.Run("allow-listed peer gets no Limit", func(t *testing.T) {
		b := newHost(t, libp2p.Identity(trustedKey))
		conn := dialCircuit(t, b, r, a.ID())
		if conn.Stat().Limited {
			t.Error("dialer sees a limited conn, want no Limit for an allow-listed peer")
		}
		checkTargetLimited(t, a, b.ID(), false)
		ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
		defer cancel()
		payload := randomBytes(t, 4*defaultLimitData)
		res, err := echo(ctx, b, a.ID(), payload) // a plain context: no limited-conn allowance
		if err != nil {
			t.Fatal(err)
		}
		if res.writeErr != nil || res.readErr != nil || res.echoed != len(payload) {
			t.Fatalf("echo past the default data cap: wrote %d (err %v), echoed %d of %d (err %v)",
				res.sent, res.writeErr, res.echoed, len(payload), res.readErr)
		}
	})

	t.Run("denied peer gets PERMISSION_DENIED", func(t *testing.T) {
		d := newHost(t, libp2p.Identity(deniedKey))
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := client.Reserve(ctx, d, r.Info)
		var re client.ReservationError
		if !errors.As(err, &re) || re.Status != pbv2.Status_PERMISSION_DENIED {
			t.Fatalf("Reserve: %v, want PERMISSION_DENIED", err)
		}
	})
}

func newIdentity(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}
