package fleet

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/reservation/storetest"
)

// BenchmarkReserve is a fleet RESERVE (quota script and local copy) on a
// real redis-server over loopback: new slots and refreshes of held ones.
func BenchmarkReserve(b *testing.B) {
	srv := redistest.Start(b)
	lim, _ := limiter.New(limiter.Config{MaxReservations: -1, MaxReservationsPerIP: -1, MaxReservationsPerSubnet: -1})
	n, err := New(Config{URL: srv.URL(), NodeID: "bench", Prefix: "bench:"}, lim)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	peers := make([]limiter.Peer, 1024)
	for i := range peers {
		peers[i] = limiter.Peer{ID: storetest.NewPeer(b), IP: netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256))}
	}
	q := n.Quota()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := q.Reserve(peers[i%len(peers)]); err != nil {
			b.Fatal(err)
		}
	}
}
