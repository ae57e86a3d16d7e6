package dcutr

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// slowPipe is one end of an in-memory stream whose bytes arrive latency
// after they were written: a relayed connection with a known one-way delay,
// on synctest's clock. (A mock, because what is tested is timing that a
// real network cannot pin down.)
type slowPipe struct {
	out     chan<- packet // to our courier
	in      <-chan []byte // from the peer's courier
	buf     []byte
	closing chan struct{}
	once    sync.Once
}

type packet struct {
	at   time.Time
	data []byte
}

// pipes ends every courier it started when the test body returns, so the
// synctest bubble empties.
var pipes struct{ done chan struct{} }

func withPipes(t *testing.T, f func(t *testing.T)) {
	synctest.Test(t, func(t *testing.T) {
		pipes.done = make(chan struct{})
		defer close(pipes.done)
		f(t)
	})
}

func newSlowPipe(latency time.Duration) (*slowPipe, *slowPipe) {
	a2b, b2a := make(chan []byte, 64), make(chan []byte, 64)
	aOut, bOut := make(chan packet, 64), make(chan packet, 64)
	a := &slowPipe{out: aOut, in: b2a, closing: make(chan struct{})}
	b := &slowPipe{out: bOut, in: a2b, closing: make(chan struct{})}
	go courier(aOut, a2b, a.closing, latency, pipes.done)
	go courier(bOut, b2a, b.closing, latency, pipes.done)
	return a, b
}

func courier(from <-chan packet, to chan<- []byte, closing chan struct{}, latency time.Duration, done chan struct{}) {
	defer close(to)
	for {
		select {
		case p := <-from:
			time.Sleep(time.Until(p.at.Add(latency)))
			to <- p.data
		case <-closing:
			// Deliver what was written before the close.
			for {
				select {
				case p := <-from:
					time.Sleep(time.Until(p.at.Add(latency)))
					to <- p.data
				default:
					return
				}
			}
		case <-done:
			return
		}
	}
}

func (p *slowPipe) Write(b []byte) (int, error) {
	p.out <- packet{at: time.Now(), data: append([]byte(nil), b...)}
	return len(b), nil
}

func (p *slowPipe) Read(b []byte) (int, error) {
	if len(p.buf) == 0 {
		d, ok := <-p.in
		if !ok {
			return 0, io.EOF
		}
		p.buf = d
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func (p *slowPipe) SetDeadline(time.Time) error { return nil }

// Close ends our direction once what was written is delivered.
func (p *slowPipe) Close() error {
	p.once.Do(func() { close(p.closing) })
	return nil
}

var (
	addrB = []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/4001"), ma.StringCast("/ip4/1.2.3.4/udp/4001/quic-v1")}
	addrA = []ma.Multiaddr{ma.StringCast("/ip4/5.6.7.8/tcp/4002"), ma.StringCast("/ip4/9.9.9.9/tcp/1/p2p-circuit")}
)

// run wires an Initiator to a responder over slow pipes; each attempt's
// punches return what the punch functions say.
type run struct {
	latency   time.Duration
	initPunch func(attempt int) error
	respPunch func(attempt int) error

	mu        sync.Mutex
	initTimes []time.Time
	respTimes []time.Time
	respErrs  []error
}

func (r *run) start(t *testing.T, cfg Config) (Outcome, error) {
	streams := make(chan Stream)
	var wg sync.WaitGroup
	wg.Go(func() {
		attempt := 0
		for s := range streams {
			attempt++
			_, err := Respond(context.Background(), cfg, s, addrA[:1], func(ctx context.Context, remote []ma.Multiaddr) error {
				r.mu.Lock()
				r.respTimes = append(r.respTimes, time.Now())
				r.mu.Unlock()
				if len(remote) != 2 || !remote[0].Equal(addrB[0]) {
					t.Errorf("responder got %v", remote)
				}
				return r.respPunch(attempt)
			})
			r.mu.Lock()
			r.respErrs = append(r.respErrs, err)
			r.mu.Unlock()
		}
	})
	attempt := 0
	in := &Initiator{
		Config: cfg,
		Open: func(ctx context.Context) (Stream, error) {
			a, b := newSlowPipe(r.latency)
			streams <- b
			return a, nil
		},
		Addrs: func() []ma.Multiaddr { return addrB },
		Punch: func(ctx context.Context, remote []ma.Multiaddr) error {
			attempt++
			r.mu.Lock()
			r.initTimes = append(r.initTimes, time.Now())
			r.mu.Unlock()
			if len(remote) != 1 || !remote[0].Equal(addrA[0]) {
				t.Errorf("initiator got %v (the circuit address must be dropped)", remote)
			}
			return r.initPunch(attempt)
		},
	}
	out, err := in.Run(context.Background())
	close(streams)
	wg.Wait()
	return out, err
}

// TestPunchesAreSimultaneous: with a one-way delay d over the relay, the
// listener measures RTT 2d and punches RTT/2 after sending SYNC, which is
// exactly when SYNC reaches the dialer, who punches at once.
func TestPunchesAreSimultaneous(t *testing.T) {
	for _, latency := range []time.Duration{time.Millisecond, 40 * time.Millisecond, 350 * time.Millisecond} {
		withPipes(t, func(t *testing.T) {
			r := &run{latency: latency, initPunch: func(int) error { return nil }, respPunch: func(int) error { return nil }}
			start := time.Now()
			out, err := r.start(t, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if out.Attempts != 1 || out.RTT != 2*latency {
				t.Errorf("latency %v: outcome %+v, want 1 attempt, RTT %v", latency, out, 2*latency)
			}
			if len(r.initTimes) != 1 || len(r.respTimes) != 1 || !r.initTimes[0].Equal(r.respTimes[0]) {
				t.Fatalf("latency %v: punches at %v (listener) and %v (dialer), want the same instant", latency, r.initTimes, r.respTimes)
			}
			// CONNECT there and back, SYNC one way.
			if got, want := r.initTimes[0].Sub(start), 3*latency; got != want {
				t.Errorf("latency %v: punched %v after start, want %v", latency, got, want)
			}
		})
	}
}

// TestRetries: failed punches are retried with a fresh exchange, up to
// Attempts, and the first success ends the loop.
func TestRetries(t *testing.T) {
	fail := errors.New("no luck")
	tests := []struct {
		name      string
		okAt      int // the attempt that succeeds; 0 = none
		attempts  int
		wantCount int
	}{
		{"first", 1, 0, 1},
		{"second", 2, 0, 2},
		{"third", 3, 0, 3},
		{"never", 0, 0, 3},
		{"never, 5 allowed", 0, 5, 5},
	}
	for _, tt := range tests {
		withPipes(t, func(t *testing.T) {
			latency := 20 * time.Millisecond
			punch := func(attempt int) error {
				if attempt == tt.okAt {
					return nil
				}
				return fail
			}
			r := &run{latency: latency, initPunch: punch, respPunch: punch}
			start := time.Now()
			out, err := r.start(t, Config{Attempts: tt.attempts})
			if out.Attempts != tt.wantCount {
				t.Errorf("%s: %d attempts, want %d", tt.name, out.Attempts, tt.wantCount)
			}
			if (tt.okAt == 0) != errors.Is(err, ErrPunchFailed) || (tt.okAt == 0 && !errors.Is(err, fail)) {
				t.Errorf("%s: err %v", tt.name, err)
			}
			for i := range r.initTimes {
				if !r.initTimes[i].Equal(r.respTimes[i]) {
					t.Errorf("%s: attempt %d: punches at %v and %v", tt.name, i+1, r.initTimes[i], r.respTimes[i])
				}
			}
			// Each round: CONNECT/CONNECT (2d) + SYNC's way (d); punches fail at once.
			if got, want := r.initTimes[len(r.initTimes)-1].Sub(start), time.Duration(tt.wantCount)*3*latency; got != want {
				t.Errorf("%s: last punch at %v, want %v", tt.name, got, want)
			}
		})
	}
}

// TestPunchTimeout: a punch that never connects is cut at PunchTimeout,
// and the next attempt follows.
func TestPunchTimeout(t *testing.T) {
	withPipes(t, func(t *testing.T) {
		latency := 10 * time.Millisecond
		cfg := Config{PunchTimeout: 2 * time.Second, Attempts: 2}
		start := time.Now()
		in := &Initiator{
			Config: cfg,
			Open: func(context.Context) (Stream, error) {
				a, b := newSlowPipe(latency)
				go Respond(context.Background(), cfg, b, addrA, func(context.Context, []ma.Multiaddr) error { return nil })
				return a, nil
			},
			Addrs: func() []ma.Multiaddr { return addrB },
			Punch: func(ctx context.Context, _ []ma.Multiaddr) error { <-ctx.Done(); return ctx.Err() },
		}
		out, err := in.Run(context.Background())
		if !errors.Is(err, ErrPunchFailed) || out.Attempts != 2 {
			t.Fatalf("outcome %+v, err %v", out, err)
		}
		if got, want := time.Since(start), 2*(3*latency+cfg.PunchTimeout); got != want {
			t.Errorf("took %v, want %v", got, want)
		}
	})
}

// TestProtocolErrors end the punch at once: a retry cannot help.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(s Stream)
		want  error
	}{
		{"sync instead of connect", func(s Stream) { read(s); write(s, TypeSync, nil) }, ErrUnexpected},
		{"no addresses", func(s Stream) { read(s); write(s, TypeConnect, nil) }, ErrNoAddrs},
		{"only circuit addresses", func(s Stream) { read(s); write(s, TypeConnect, addrA[1:]) }, ErrNoAddrs},
		{"garbage", func(s Stream) { read(s); s.Write([]byte{3, 0xff, 0xff, 0xff}) }, ErrMalformed},
	}
	for _, tt := range tests {
		withPipes(t, func(t *testing.T) {
			opened := 0
			in := &Initiator{
				Open: func(context.Context) (Stream, error) {
					opened++
					a, b := newSlowPipe(time.Millisecond)
					go tt.reply(b)
					return a, nil
				},
				Addrs: func() []ma.Multiaddr { return addrB },
				Punch: func(context.Context, []ma.Multiaddr) error { t.Error("punched"); return nil },
			}
			_, err := in.Run(context.Background())
			if !errors.Is(err, tt.want) || opened != 1 {
				t.Errorf("%s: err %v after %d streams, want %v after 1", tt.name, err, opened, tt.want)
			}
		})
	}
}

// TestResponderChecksOrder: the dialer refuses a SYNC before CONNECT and a
// second CONNECT instead of SYNC, and never punches then.
func TestResponderChecksOrder(t *testing.T) {
	tests := []struct {
		name string
		send func(s Stream)
	}{
		{"sync first", func(s Stream) { write(s, TypeSync, nil) }},
		{"connect twice", func(s Stream) { write(s, TypeConnect, addrB); read(s); write(s, TypeConnect, addrB) }},
		{"eof after connect", func(s Stream) { write(s, TypeConnect, addrB); read(s); s.(io.Closer).Close() }},
	}
	for _, tt := range tests {
		withPipes(t, func(t *testing.T) {
			a, b := newSlowPipe(time.Millisecond)
			go tt.send(a)
			_, err := Respond(context.Background(), Config{}, b, addrA, func(context.Context, []ma.Multiaddr) error {
				t.Error("punched")
				return nil
			})
			if err == nil {
				t.Errorf("%s: accepted", tt.name)
			}
		})
	}
}
