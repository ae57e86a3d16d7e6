package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// How circuits end, judged side by side on relayd and the reference relay
// over TCP, QUIC, WS and WSS. Each scenario runs endingTrials times at
// once, every trial on its own pair of hosts and its own circuit, so a
// scenario takes seconds.
const (
	endingTrials   = 20
	endingCapData  = 128 << 10
	endingDuration = 3 * time.Second
	endingChunk    = 4 << 10
	halfCloseBytes = 32 << 10
	countProto     = protocol.ID("/relayd-interop/count/1.0.0")
	halfCloseProto = protocol.ID("/relayd-interop/half-close/1.0.0")
)

// TestCircuitEndings: for each transport, both relay kinds side by side
// (the data-cap runs of both at the same time, so both meet the same load):
//   - data cap (--limit-data 131072): the dialer streams 4× the cap; the
//     target must get the full cap (to the frame: as many bytes as the best
//     run of either relay on that transport) in at least as many runs on
//     relayd as on the reference, up to chance (compareDataCap), and then
//     an error or an end;
//   - duration cap (--limit-duration 3s): on an idle circuit the target's
//     read fails with a stream reset within 10% of the cap;
//   - half-close from either side: every byte, then EOF, and the other
//     direction then carries every byte and EOF too.
func TestCircuitEndings(t *testing.T) {
	ca := newTestCA(t)
	type relays struct{ data, dur *relayProc }
	byKind := map[string]relays{}
	for _, kind := range kinds() {
		flags := []string{"--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile, "--max-reservations", "1000"}
		if kind == kindRelayd {
			flags = append(flags, relaxedQuotas()...)
		}
		byKind[kind] = relays{
			data: startRelayOn(t, kind, transportListen(), append(flags, "--limit-data", fmt.Sprint(endingCapData))...),
			dur:  startRelayOn(t, kind, transportListen(), append(flags, "--limit-duration", endingDuration.String())...),
		}
	}
	for _, tr := range relayTransports() {
		t.Run(tr, func(t *testing.T) {
			t.Run("data_cap", func(t *testing.T) {
				var mu sync.Mutex
				var wg sync.WaitGroup
				received := map[string][]int64{}
				for kind, r := range byKind {
					wg.Go(func() {
						got := dataCapRuns(t, ca, r.data, tr)
						mu.Lock()
						received[kind] = got
						mu.Unlock()
					})
				}
				wg.Wait()
				compareDataCap(t, tr, received)
			})
			for kind, r := range byKind {
				t.Run("duration_cap/"+kind, func(t *testing.T) { durationCapRuns(t, ca, r.dur, tr) })
				t.Run("half_close_dialer_first/"+kind, func(t *testing.T) { halfCloseRuns(t, ca, r.data, tr, true) })
				t.Run("half_close_target_first/"+kind, func(t *testing.T) { halfCloseRuns(t, ca, r.data, tr, false) })
			}
		})
	}
}

// compareDataCap judges the data-cap runs of one transport: "full" is the
// most any run of either relay delivered.
func compareDataCap(t *testing.T, tr string, byKind map[string][]int64) {
	t.Helper()
	var full int64
	for _, runs := range byKind {
		for _, n := range runs {
			full = max(full, n)
		}
	}
	count := map[string]int{}
	for kind, runs := range byKind {
		for _, n := range runs {
			if n == full {
				count[kind]++
			}
		}
		sorted := slices.Clone(runs)
		slices.Sort(sorted)
		t.Logf("data cap over %s: %s delivered the full %d bytes in %d of %d runs (min %d, median %d)",
			tr, kind, full, count[kind], len(runs), sorted[0], sorted[len(sorted)/2])
	}
	rd, okd := byKind[kindRelayd]
	rr, okr := byKind[kindReference]
	if !okd || !okr {
		return
	}
	if count[kindRelayd] >= count[kindReference] {
		return
	}
	// Which runs come out full is partly the target's luck: go-libp2p drops
	// the bytes a relayed conn's reader has not taken yet when the conn
	// ends, on either relay, so two runs of one relay differ by a few runs
	// out of 20. Fewer full runs than the reference fail the test when
	// they are not chance (one-sided Fisher exact test, p < 0.01): relayd
	// before this check reset QUIC streams at the cap, 2 full runs of 20
	// against the reference's 15 (p < 0.0001).
	p := fisherLess(count[kindRelayd], len(rd), count[kindReference], len(rr))
	msg := fmt.Sprintf("data cap over %s: relayd delivered the full cap in %d of %d runs, the reference in %d of %d (p = %.3f)",
		tr, count[kindRelayd], len(rd), count[kindReference], len(rr), p)
	if p < 0.01 {
		t.Error(msg)
		return
	}
	t.Log(msg + ": within chance")
}

// fisherLess is the one-sided Fisher exact test: the probability that,
// with a+b successes spread at random over groups of na and nb runs, the
// first group gets a or fewer.
func fisherLess(a, na, b, nb int) float64 {
	k, n := a+b, na+nb
	lchoose := func(n, k int) float64 {
		x, _ := math.Lgamma(float64(n + 1))
		y, _ := math.Lgamma(float64(k + 1))
		z, _ := math.Lgamma(float64(n - k + 1))
		return x - y - z
	}
	p := 0.0
	for i := max(0, k-nb); i <= a; i++ {
		p += math.Exp(lchoose(na, i) + lchoose(nb, k-i) - lchoose(n, k))
	}
	return p
}

// trialPair is a target reserved on r over tr and a dialer connected to
// it through r over tr.
// before and after bracket the dial, during which the relay opened the
// circuit.
func trialPair(t *testing.T, ca *testCA, r *relayProc, tr string, handle func(s network.Stream)) (a, b host.Host, before, after time.Time) {
	a = newAllTransportsHost(t, ca)
	a.SetStreamHandler(countProto, handle)
	a.SetStreamHandler(halfCloseProto, handle)
	reserveOnly(t, a, r, tr)
	b = newAllTransportsHost(t, ca)
	addr := circuitOver(t, r, tr, a.ID())
	// Twenty trials of each relay set up at once load the machine, so a
	// dial that times out gets one more try: the scenarios judge endings.
	var errs []error
	for range 2 {
		before = time.Now()
		err := b.Connect(limitedCtx(t, 30*time.Second), peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{addr}})
		if err == nil {
			return a, b, before, time.Now()
		}
		errs = append(errs, err)
		if sw, ok := b.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(a.ID())
		}
	}
	t.Errorf("%s: dial %s: %v", r.Kind, addr, errors.Join(errs...))
	return nil, nil, before, before
}

// openReady opens proto to target and waits for the target's handler to
// answer one byte (see readyThenRead), so the handler runs before the
// scenario starts: go-libp2p drops a relayed conn's unread bytes when the
// conn ends, and a handler still negotiating would see none of them.
func openReady(t *testing.T, b host.Host, target peer.ID, proto protocol.ID) (network.Stream, error) {
	s, err := b.NewStream(limitedCtx(t, streamTimeout), target, proto)
	if err != nil {
		return nil, err
	}
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	if _, err := s.Write([]byte{1}); err != nil {
		s.Reset()
		return nil, err
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		s.Reset()
		return nil, fmt.Errorf("waiting for the target's handler: %w", err)
	}
	return s, nil
}

// readyThenRead is the target's side of openReady, then readUntilEnd.
func readyThenRead(s network.Stream) readEnd {
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		return readEnd{err: err, at: time.Now()}
	}
	if _, err := s.Write([]byte{1}); err != nil {
		return readEnd{err: err, at: time.Now()}
	}
	return readUntilEnd(s)
}

// reserveOnly reserves a slot for h on r over tr, reporting errors with
// t.Error (trials run in goroutines).
func reserveOnly(t *testing.T, h host.Host, r *relayProc, tr string) {
	ctx := limitedCtx(t, 20*time.Second)
	if err := h.Connect(ctx, peer.AddrInfo{ID: r.Info.ID, Addrs: []ma.Multiaddr{relayAddrFor(t, r, tr)}}); err != nil {
		t.Errorf("connect to relay over %s: %v", tr, err)
		return
	}
	if _, err := client.Reserve(ctx, h, peer.AddrInfo{ID: r.Info.ID, Addrs: []ma.Multiaddr{relayAddrFor(t, r, tr)}}); err != nil {
		t.Errorf("reserve over %s: %v", tr, err)
	}
}

// parallelTrials runs fn endingTrials times at once.
func parallelTrials(fn func(i int)) {
	var wg sync.WaitGroup
	for i := range endingTrials {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

type readEnd struct {
	n   int64
	err error
	at  time.Time
}

// readUntilEnd reads s until EOF or an error.
func readUntilEnd(s network.Stream) readEnd {
	_ = s.SetReadDeadline(time.Now().Add(streamTimeout))
	n, err := io.Copy(io.Discard, s)
	return readEnd{n: n, err: err, at: time.Now()}
}

func dataCapRuns(t *testing.T, ca *testCA, r *relayProc, tr string) []int64 {
	out := make([]int64, endingTrials)
	parallelTrials(func(i int) {
		ends := make(chan readEnd, 1)
		a, b, _, _ := trialPair(t, ca, r, tr, func(s network.Stream) {
			ends <- readyThenRead(s)
			s.Reset()
		})
		if b == nil {
			return
		}
		s, err := openReady(t, b, a.ID(), countProto)
		if err != nil {
			t.Errorf("%s run %d: open stream: %v", r.Kind, i, err)
			return
		}
		payload := make([]byte, endingChunk)
		var werr error
		for sent := 0; sent < 4*endingCapData && werr == nil; sent += endingChunk {
			_, werr = s.Write(payload)
		}
		s.CloseWrite()
		select {
		case e := <-ends:
			out[i] = e.n
			if e.n > endingCapData {
				t.Errorf("%s run %d: target received %d bytes through a %d-byte cap", r.Kind, i, e.n, endingCapData)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s run %d: the target's stream neither ended nor failed 10 s after the dialer's writes ended (write error %v)", r.Kind, i, werr)
		}
		s.Reset()
	})
	return out
}

func durationCapRuns(t *testing.T, ca *testCA, r *relayProc, tr string) {
	parallelTrials(func(i int) {
		ends := make(chan readEnd, 1)
		a, b, before, connected := trialPair(t, ca, r, tr, func(s network.Stream) {
			ends <- readyThenRead(s)
			s.Reset()
		})
		if b == nil {
			return
		}
		s, err := openReady(t, b, a.ID(), countProto)
		if err != nil {
			// A loaded machine may take most of the cap to set the stream
			// up; a reset that comes at the cap is then the dialer's to see.
			if since := time.Since(before); !isReset(err) || since < endingDuration*9/10 || time.Since(connected) > endingDuration*11/10 {
				t.Errorf("%s run %d: open stream %v after the dial began: %v", r.Kind, i, since, err)
			}
			return
		}
		defer s.Reset()
		select {
		case e := <-ends:
			lo, hi := e.at.Sub(connected), e.at.Sub(before)
			if !isReset(e.err) {
				t.Errorf("%s run %d: target's read ended with %v after %v, want a stream reset", r.Kind, i, e.err, lo)
			}
			if hi < endingDuration*9/10 || lo > endingDuration*11/10 {
				t.Errorf("%s run %d: target's read failed %v–%v after the circuit opened, want %v ±10%%", r.Kind, i, lo, hi, endingDuration)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s run %d: the target's read still blocks 10 s into a %v circuit", r.Kind, i, endingDuration)
		}
	})
}

// isReset: go-libp2p reports a reset stream as network.ErrReset, or in a
// message that says "stream reset" when the relayed conn under the stream
// was reset.
func isReset(err error) bool {
	return err != nil && (errors.Is(err, network.ErrReset) || strings.Contains(err.Error(), "stream reset"))
}

// halfCloseRuns: one side sends halfCloseBytes and half-closes; the other
// reads every byte, then EOF, then sends its own halfCloseBytes and
// half-closes, which the first reads in full, then EOF.
func halfCloseRuns(t *testing.T, ca *testCA, r *relayProc, tr string, dialerFirst bool) {
	parallelTrials(func(i int) {
		fromDialer := randomBytes(t, halfCloseBytes)
		fromTarget := randomBytes(t, halfCloseBytes)
		done := make(chan error, 1)
		a, b, _, _ := trialPair(t, ca, r, tr, func(s network.Stream) {
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(streamTimeout))
			done <- exchange(s, fromTarget, fromDialer, !dialerFirst)
		})
		if b == nil {
			return
		}
		s, err := b.NewStream(limitedCtx(t, streamTimeout), a.ID(), halfCloseProto)
		if err != nil {
			t.Errorf("%s run %d: open stream: %v", r.Kind, i, err)
			return
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(streamTimeout))
		if err := exchange(s, fromDialer, fromTarget, dialerFirst); err != nil {
			t.Errorf("%s run %d: dialer: %v", r.Kind, i, err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s run %d: target: %v", r.Kind, i, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s run %d: target's exchange did not finish", r.Kind, i)
		}
	})
}

// exchange sends out and half-closes, then reads in to EOF (first), or
// reads in to EOF, then sends out and half-closes.
func exchange(s network.Stream, out, in []byte, first bool) error {
	send := func() error {
		if _, err := s.Write(out); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return s.CloseWrite()
	}
	recv := func() error {
		got, err := io.ReadAll(s)
		if err != nil {
			return fmt.Errorf("read %d of %d bytes, then %w", len(got), len(in), err)
		}
		if !bytes.Equal(got, in) {
			return fmt.Errorf("read %d bytes then EOF, want the %d sent, intact", len(got), len(in))
		}
		return nil
	}
	if first {
		if err := send(); err != nil {
			return err
		}
		return recv()
	}
	if err := recv(); err != nil {
		return err
	}
	return send()
}

func TestFisherLess(t *testing.T) {
	for _, tt := range []struct {
		a, na, b, nb int
		lo, hi       float64
	}{
		{2, 20, 15, 20, 0, 0.0001},    // relayd before: QUIC streams reset at the cap
		{16, 20, 19, 20, 0.1, 0.2},    // chance
		{20, 20, 20, 20, 0.999, 1.01}, // equal
	} {
		if p := fisherLess(tt.a, tt.na, tt.b, tt.nb); p < tt.lo || p > tt.hi {
			t.Errorf("fisherLess(%d/%d vs %d/%d) = %g, want in [%g, %g]", tt.a, tt.na, tt.b, tt.nb, p, tt.lo, tt.hi)
		}
	}
}
