package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/mesh/frame"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/pbio"
)

// ErrClosed: the node is closed.
var ErrClosed = fmt.Errorf("mesh: node closed: %w", net.ErrClosed)

// errNoAddress: the directory gave no address for a node.
var errNoAddress = errors.New("mesh: no address")

// Node is this relay node's end of the mesh: it accepts links from other
// nodes, dials the nodes it forwards to, and serves circuits forwarded
// here. It implements circuit.Forwarder.
type Node struct {
	cfg Config
	psk []byte
	ln  net.Listener
	m   *Metrics
	log *slog.Logger
	hs  chan struct{} // inbound handshake slots

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wgMu   sync.Mutex

	mu    sync.Mutex
	peers map[string]*peer
}

var _ circuit.Forwarder = (*Node)(nil)

// peer is what this node knows of one other node. Guarded by Node.mu.
type peer struct {
	node      string
	link      *link         // the live link, nil if none
	dialing   bool          // a dial loop runs for this node
	inAttempt bool          // and it is dialing now
	attempt   chan struct{} // closed when a dial attempt ends or a link arrives
	lastErr   error         // the last attempt's failure
	failedAt  time.Time     // when it failed
}

// link is one authenticated, multiplexed connection to another node.
type link struct {
	node     string
	sess     *yamux.Session
	outbound bool
	replaced bool // closed by the tie-break, not dropped
}

func (l *link) up() bool { return !l.sess.IsClosed() }

// New validates cfg and binds the mesh listener; Serve accepts on it.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("mesh: listen %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		cfg: cfg, psk: pskOf(cfg.Secret), ln: ln, m: cfg.Metrics,
		log: cfg.Logger, hs: make(chan struct{}, cfg.MaxHandshakes),
		ctx: ctx, cancel: cancel, peers: make(map[string]*peer),
	}, nil
}

// Addr is the bound listen address.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Advertise is the address other nodes should dial: Config.Advertise, or
// the bound listen address.
func (n *Node) Advertise() string {
	if n.cfg.Advertise != "" {
		return n.cfg.Advertise
	}
	return n.ln.Addr().String()
}

// Serve accepts mesh links until ctx is done or Close.
func (n *Node) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { n.ln.Close() })
	defer stop()
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || n.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("mesh: accept: %w", err)
		}
		select {
		case n.hs <- struct{}{}:
		default:
			n.log.Debug("too many mesh handshakes, dropping", "remote", c.RemoteAddr())
			c.Close()
			continue
		}
		if !n.goTracked(func() { n.accept(c) }) {
			c.Close()
			return nil
		}
	}
}

// Close closes the listener and every link, which resets their circuits,
// and waits for the node's goroutines.
func (n *Node) Close() error {
	n.wgMu.Lock()
	n.cancel()
	n.wgMu.Unlock()
	n.ln.Close()
	n.mu.Lock()
	for _, p := range n.peers {
		if p.link != nil {
			p.link.sess.Close()
		}
	}
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}

// goTracked runs f in a goroutine Close waits for; false once closing.
func (n *Node) goTracked(f func()) bool {
	n.wgMu.Lock()
	defer n.wgMu.Unlock()
	if n.ctx.Err() != nil {
		return false
	}
	n.wg.Go(f)
	return true
}

// accept authenticates an inbound connection and serves its link.
func (n *Node) accept(c net.Conn) {
	c.SetDeadline(time.Now().Add(n.cfg.HandshakeTimeout))
	stop := context.AfterFunc(n.ctx, func() { c.Close() }) // Close does not wait out a handshake
	sc, hello, err := serverHandshake(c, n.psk, n.cfg.NodeID)
	stop()
	<-n.hs
	if err != nil {
		if n.ctx.Err() == nil {
			n.m.handshakeFailures.WithLabelValues(failReason(err)).Inc()
			n.log.Warn("mesh handshake failed", "remote", c.RemoteAddr(), "err", err)
		}
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	sess, err := yamux.Server(host.CoalesceYamux(sc), yamuxConfig(n.log))
	if err != nil {
		c.Close()
		return
	}
	l := &link{node: hello.Node, sess: sess}
	n.mu.Lock()
	p := n.peerLocked(hello.Node)
	err = n.addLinkLocked(p, l)
	n.mu.Unlock()
	if err != nil {
		sess.Close()
		return
	}
	n.log.Info("mesh link up", "node", l.node, "remote", c.RemoteAddr(), "outbound", false)
	n.serveLink(l)
	n.linkDown(p, l)
}

func (n *Node) peerLocked(node string) *peer {
	p := n.peers[node]
	if p == nil {
		p = &peer{node: node, attempt: make(chan struct{})}
		n.peers[node] = p
	}
	return p
}

// addLinkLocked makes l the peer's link. Of two live links to one node,
// both ends keep the one dialed by the node with the smaller ID.
func (n *Node) addLinkLocked(p *peer, l *link) error {
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	if old := p.link; old != nil && old.up() {
		// Both nodes dialed at once. The loser still carries the
		// circuits opened on it; it closes once they are done.
		loser := old
		if n.dialerOf(old) < n.dialerOf(l) {
			loser = l
		}
		loser.replaced = true
		n.goTracked(func() { n.closeWhenIdle(loser) })
		if loser == l {
			return nil
		}
	}
	if p.link == nil {
		n.m.linksUp.Inc()
	}
	p.link = l
	close(p.attempt)
	p.attempt = make(chan struct{})
	return nil
}

func (n *Node) dialerOf(l *link) string {
	if l.outbound {
		return n.cfg.NodeID
	}
	return l.node
}

// idlePoll is how often a link that lost the tie-break checks whether its
// last circuit ended.
const idlePoll = 100 * time.Millisecond

// closeWhenIdle closes a link that lost the tie-break once it carries no
// stream.
func (n *Node) closeWhenIdle(l *link) {
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for l.sess.NumStreams() > 0 {
		select {
		case <-t.C:
		case <-l.sess.CloseChan():
			return
		case <-n.ctx.Done():
			l.sess.Close() // Close knows only the winners
			return
		}
	}
	l.sess.Close()
}

// linkDown forgets l once its session ended.
func (n *Node) linkDown(p *peer, l *link) {
	l.sess.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.link == l {
		p.link = nil
		n.m.linksUp.Dec()
	}
	if !l.replaced && n.ctx.Err() == nil {
		n.m.linkDrops.Inc()
		n.log.Warn("mesh link dropped", "node", l.node, "outbound", l.outbound)
	}
}

// serveLink accepts the streams the other node opens until the link ends.
func (n *Node) serveLink(l *link) {
	for {
		ys, err := l.sess.AcceptStream()
		if err != nil {
			return
		}
		if !n.goTracked(func() { n.serveStream(l, ys) }) {
			ys.Close()
			return
		}
	}
}

// serveStream serves one forwarded circuit: read its Connect, hand it to
// the circuit service, which answers and splices.
func (n *Node) serveStream(l *link, ys *yamux.Stream) {
	ys.SetDeadline(time.Now().Add(n.cfg.HandshakeTimeout))
	c, err := readConnect(ys)
	if err == nil && c.Node != l.node {
		err = fmt.Errorf("connect names entry node %q on the link from %q", c.Node, l.node)
	}
	if err != nil {
		n.log.Debug("bad forwarded circuit request", "node", l.node, "err", err)
		ys.Close()
		return
	}
	st := n.newStream(l, ys, nil)
	// An accepted circuit is counted when it opens, as the entry node
	// counts its side, not when it ends: a long circuit shows at once.
	opened := false
	answer := func(s wire.Status) error {
		if err := pbio.WriteDelimited(ys, frame.Status{Status: s}.Append(nil)); err != nil {
			return fmt.Errorf("mesh: answering %s: %w", l.node, err)
		}
		ys.SetDeadline(time.Time{})
		if s == wire.StatusOK {
			opened = true
			n.m.forwarded.WithLabelValues("in", resultOK).Inc()
		}
		return nil
	}
	n.m.active.WithLabelValues("in").Inc()
	end, err := n.cfg.Handler.HandleForwarded(st, circuit.ForwardRequest{Src: c.Src, Dst: c.Dst, Limit: c.Limit, Node: c.Node}, answer)
	n.m.active.WithLabelValues("in").Dec()
	switch {
	case errors.Is(err, circuit.ErrForwardRefused):
		n.m.forwarded.WithLabelValues("in", resultRefused).Inc()
		st.release()
	case err != nil:
		if !opened {
			n.m.forwarded.WithLabelValues("in", resultFailed).Inc()
		}
		st.Reset()
	default:
		n.m.closedIn.WithLabelValues(string(end)).Inc()
	}
}

func readConnect(ys *yamux.Stream) (frame.Connect, error) {
	b, err := pbio.ReadDelimited(ys, frame.MaxFrameSize)
	if err != nil {
		return frame.Connect{}, err
	}
	c, k, err := frame.ParseConnect(b)
	if err == nil && k != len(b) {
		err = fmt.Errorf("%w: trailing bytes after connect", frame.ErrMalformed)
	}
	return c, err
}

func (n *Node) newStream(l *link, ys *yamux.Stream, onDone func()) *Stream {
	return &Stream{
		ys: ys, linkUp: l.up, m: n.m, onDone: onDone,
		watcher: func(f func()) { n.goTracked(f) },
	}
}

// Forward implements circuit.Forwarder: it opens a stream on the link to
// node (dialing it if need be), sends Connect and waits for the answer.
func (n *Node) Forward(ctx context.Context, node string, src, dst identity.PeerID, lim *wire.Limit) (circuit.Stream, error) {
	c := frame.Connect{Dst: dst, Src: src, Node: n.cfg.NodeID, Limit: lim}
	st, err := n.forwardOnce(ctx, node, c)
	if err != nil && ctx.Err() == nil && errors.Is(err, errLinkGone) {
		// The link died under the Connect, typically because both nodes
		// dialed at once and it lost the tie-break: the winner is up, or
		// a redial is due. Once: a failing node is not hammered.
		st, err = n.forwardOnce(ctx, node, c)
	}
	var se *circuit.StatusError
	switch {
	case errors.As(err, &se):
		n.m.forwarded.WithLabelValues("out", resultRefused).Inc()
		return nil, err
	case err != nil:
		n.m.forwarded.WithLabelValues("out", resultFailed).Inc()
		return nil, err
	}
	n.m.forwarded.WithLabelValues("out", resultOK).Inc()
	return st, nil
}

// errLinkGone: the link closed while a circuit was being opened on it.
var errLinkGone = errors.New("mesh: link closed")

func (n *Node) forwardOnce(ctx context.Context, node string, c frame.Connect) (*Stream, error) {
	l, err := n.linkTo(ctx, node)
	if err != nil {
		return nil, err
	}
	st, err := n.open(ctx, l, c)
	var se *circuit.StatusError
	if err != nil && !errors.As(err, &se) && !l.up() {
		return nil, fmt.Errorf("%w: %w", errLinkGone, err)
	}
	return st, err
}

// open runs the Connect/Status exchange on a new stream of l.
func (n *Node) open(ctx context.Context, l *link, c frame.Connect) (*Stream, error) {
	ys, err := l.sess.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("mesh: open stream to %s: %w", l.node, err)
	}
	if d, ok := ctx.Deadline(); ok {
		ys.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { ys.SetDeadline(past) })
	st, err := n.exchange(l, ys, c)
	if !stop() && err == nil {
		st.Reset()
		return nil, ctx.Err()
	}
	if err != nil {
		ys.Close()
		return nil, err
	}
	ys.SetDeadline(time.Time{})
	return st, nil
}

func (n *Node) exchange(l *link, ys *yamux.Stream, c frame.Connect) (*Stream, error) {
	if err := pbio.WriteDelimited(ys, c.Append(nil)); err != nil {
		return nil, fmt.Errorf("mesh: connect via %s: %w", l.node, err)
	}
	b, err := pbio.ReadDelimited(ys, frame.MaxFrameSize)
	if err != nil {
		return nil, fmt.Errorf("mesh: answer from %s: %w", l.node, err)
	}
	s, k, err := frame.ParseStatus(b)
	if err == nil && k != len(b) {
		err = fmt.Errorf("%w: trailing bytes after status", frame.ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("mesh: answer from %s: %w", l.node, err)
	}
	if s.Status != wire.StatusOK {
		return nil, &circuit.StatusError{Status: s.Status}
	}
	out := n.m.active.WithLabelValues("out")
	out.Inc()
	return n.newStream(l, ys, out.Dec), nil
}

// failMemory is how long a failed first dial fails forwards to the node at
// once, so CONNECTs to an unreachable node do not each wait for a dial.
const failMemory = time.Second

// linkTo returns the live link to node, dialing it if there is none. While
// a link is down and being redialed, or for failMemory after a first dial
// failed, it fails at once with the last dial's error.
func (n *Node) linkTo(ctx context.Context, node string) (*link, error) {
	n.mu.Lock()
	p := n.peerLocked(node)
	if l := p.link; l != nil && l.up() {
		n.mu.Unlock()
		return l, nil
	}
	recent := p.lastErr != nil && time.Since(p.failedAt) < failMemory
	if p.lastErr != nil && (p.dialing && !p.inAttempt || !p.dialing && recent) {
		err := p.lastErr
		n.mu.Unlock()
		return nil, err
	}
	if !p.dialing {
		if n.cfg.Directory == nil {
			n.mu.Unlock()
			return nil, fmt.Errorf("mesh: no link to %s and no directory to dial it", node)
		}
		p.dialing, p.inAttempt = true, true
		if !n.goTracked(func() { n.dialLoop(p) }) {
			p.dialing = false
			n.mu.Unlock()
			return nil, ErrClosed
		}
	}
	wait := p.attempt
	n.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.mu.Lock()
	l, err := p.link, p.lastErr
	n.mu.Unlock()
	switch {
	case l != nil && l.up():
		return l, nil
	case err != nil:
		return nil, err
	}
	// A link arrived and died at once, or was replaced: look again.
	return n.linkTo(ctx, node)
}

// dialLoop keeps a link to p's node: it dials, serves the link until it
// drops, and redials with backoff. It stops when the node closes, when the
// first dial fails, when the directory no longer knows the node, or when
// the other node's own link won the tie-break.
func (n *Node) dialLoop(p *peer) {
	backoff, everUp := n.cfg.RedialMin, false
	defer func() {
		n.mu.Lock()
		p.dialing, p.inAttempt = false, false
		n.mu.Unlock()
	}()
	for n.ctx.Err() == nil {
		l, err := n.dial(p.node)
		n.mu.Lock()
		if err == nil {
			if err = n.addLinkLocked(p, l); err != nil {
				l.sess.Close()
			}
		}
		p.lastErr, p.inAttempt, p.failedAt = err, false, time.Now()
		close(p.attempt)
		p.attempt = make(chan struct{})
		n.mu.Unlock()
		// A link that never came up is not redialed (the next Forward
		// after failMemory tries again), nor one without an address.
		if errors.Is(err, ErrClosed) || errors.Is(err, errNoAddress) || err != nil && !everUp {
			return
		}
		if err == nil {
			n.log.Info("mesh link up", "node", p.node, "outbound", true)
			everUp, backoff = true, n.cfg.RedialMin
			n.serveLink(l)
			n.linkDown(p, l)
			if !n.keepDialing(p, l) {
				return
			}
		} else {
			n.log.Warn("mesh dial failed", "node", p.node, "err", err, "retry_in", backoff)
		}
		if !n.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, n.cfg.RedialMax)
		n.mu.Lock()
		if l := p.link; l != nil && l.up() { // the other node dialed meanwhile
			n.mu.Unlock()
			return
		}
		p.inAttempt = true
		n.mu.Unlock()
	}
}

// keepDialing: after l ended, redial unless another link took its place.
func (n *Node) keepDialing(p *peer, l *link) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !l.replaced && (p.link == nil || !p.link.up())
}

func (n *Node) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// dial connects and authenticates to node at the directory's address.
func (n *Node) dial(node string) (*link, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
	defer cancel()
	addr, err := n.cfg.Directory.MeshAddr(ctx, node)
	if err == nil && addr == "" {
		err = errors.New("the node publishes no mesh address")
	}
	if err != nil {
		return nil, fmt.Errorf("%w of %s: %w", errNoAddress, node, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s at %s: %w", node, addr, err)
	}
	c.SetDeadline(time.Now().Add(n.cfg.HandshakeTimeout))
	stop := context.AfterFunc(n.ctx, func() { c.Close() })
	sc, _, err := clientHandshake(c, n.psk, frame.Hello{Version: frame.Version, Node: n.cfg.NodeID, Want: node})
	stop()
	if err != nil {
		n.m.handshakeFailures.WithLabelValues(failReason(err)).Inc()
		c.Close()
		return nil, fmt.Errorf("mesh: %s at %s: %w", node, addr, err)
	}
	c.SetDeadline(time.Time{})
	sess, err := yamux.Client(host.CoalesceYamux(sc), yamuxConfig(n.log))
	if err != nil {
		c.Close()
		return nil, err
	}
	return &link{node: node, sess: sess, outbound: true}, nil
}

// yamuxConfig is the mesh session configuration: keepalives find a dead
// link; a wider window than client connections get, since one link carries
// many circuits between two machines on a fast network;
// StreamCloseTimeout RSTs a stream whose Reset record could not be sent.
func yamuxConfig(logger *slog.Logger) *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 1024
	c.EnableKeepAlive = true
	c.KeepAliveInterval = 10 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.MaxStreamWindowSize = 1 << 20
	c.StreamOpenTimeout = 30 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.LogOutput = nil
	c.Logger = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	return c
}
