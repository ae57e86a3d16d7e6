package tlsacme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
)

// Manager obtains, serves and renews the certificates of Config.Domains.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	storage io.Closer // a storage New built and must close, or nil
	metrics *collector

	httpLn  net.Listener // HTTP-01, or nil
	httpSrv *http.Server

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	started   bool
	lastErr   error    // the last failed attempt to obtain, until one succeeds
	announced []string // domains passed to OnNames

	closeOnce sync.Once
}

// New checks cfg, builds the certificate cache (which starts certmagic's
// maintenance: renewals) and binds the HTTP-01 listener, if any. Nothing
// is ordered until Start.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg, log: cfg.Logger}
	storage, err := m.buildStorage()
	if err != nil {
		return nil, err
	}
	issuerTmpl, err := m.issuerTemplate()
	if err != nil {
		m.closeStorage()
		return nil, err
	}
	if cfg.HTTPListen != "" {
		if m.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			m.closeStorage()
			return nil, fmt.Errorf("acme http listen: %w", err)
		}
	}
	zl := newZapLogger(cfg.Logger.With("component", "certmagic"))
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: cfg.RenewCheckInterval,
		Logger:             zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		OnEvent:            m.onEvent,
		DefaultServerName:  cfg.Domains[0],
		Storage:            storage,
		Logger:             zl,
	})
	issuerTmpl.Logger = zl
	m.issuer = certmagic.NewACMEIssuer(m.magic, issuerTmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	m.metrics = newCollector(cfg.Metrics, m)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

func (m *Manager) buildStorage() (certmagic.Storage, error) {
	switch {
	case m.cfg.Storage != nil:
		return m.cfg.Storage, nil
	case m.cfg.Redis != nil:
		s, err := NewRedisStorage(RedisStorageConfig{Client: m.cfg.Redis, Prefix: m.cfg.RedisPrefix, Logger: m.log})
		if err != nil {
			return nil, err
		}
		m.storage = s
		return s, nil
	default:
		return &certmagic.FileStorage{Path: m.cfg.StorageDir}, nil
	}
}

func (m *Manager) closeStorage() {
	if m.storage != nil {
		m.storage.Close()
	}
}

// issuerTemplate is the ACME issuer's settings. TLS-ALPN-01 and HTTP-01
// ports are filled in by Start, once the listeners are bound.
func (m *Manager) issuerTemplate() (certmagic.ACMEIssuer, error) {
	t := certmagic.ACMEIssuer{
		CA:                      m.cfg.CA,
		TestCA:                  m.cfg.CA, // never fall back to another CA
		Email:                   m.cfg.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    m.cfg.HTTPListen == "",
		DisableTLSALPNChallenge: true,
	}
	if m.cfg.CARootFile != "" {
		pool, err := rootPool(m.cfg.CARootFile)
		if err != nil {
			return t, err
		}
		t.TrustedRoots = pool
	}
	if m.cfg.DNSProvider != nil {
		t.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider:        m.cfg.DNSProvider,
			Resolvers:          m.cfg.DNSResolvers,
			PropagationTimeout: m.cfg.DNSPropagationTimeout,
			Logger:             newZapLogger(m.log.With("component", "certmagic")),
		}}
	}
	return t, nil
}

// TLSConfig serves the managed certificates and answers TLS-ALPN-01 on
// the listener that uses it (the /wss listener). Certificates are looked
// up per handshake, so a renewal reaches new connections at once while
// established ones keep theirs.
func (m *Manager) TLSConfig() *tls.Config {
	c := m.magic.TLSConfig()
	c.NextProtos = []string{"http/1.1", acmez.ACMETLS1Protocol}
	c.MinVersion = tls.VersionTLS12
	return c
}

// Start begins obtaining the certificates (retrying with backoff) and
// serving HTTP-01. tlsALPN is the address (host:port) of the listener
// using TLSConfig, which answers TLS-ALPN-01; empty turns TLS-ALPN-01 off.
// Start returns at once; Close stops everything.
func (m *Manager) Start(tlsALPN string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("tlsacme: already started")
	}
	m.started = true
	if err := m.setChallengePorts(tlsALPN); err != nil {
		return err
	}
	if m.httpLn != nil {
		m.serveHTTP()
	}
	m.wg.Go(m.obtainLoop)
	return nil
}

// setChallengePorts points certmagic's solvers at relayd's own listeners:
// a solver that finds its port taken assumes the taker answers, which
// ours do (TLSConfig; HTTPChallengeHandler).
func (m *Manager) setChallengePorts(tlsALPN string) error {
	if tlsALPN != "" {
		port, err := portOf(tlsALPN)
		if err != nil {
			return fmt.Errorf("tlsacme: TLS-ALPN address: %w", err)
		}
		m.issuer.AltTLSALPNPort = port
		m.issuer.DisableTLSALPNChallenge = false
	}
	if m.httpLn != nil {
		port, _ := portOf(m.httpLn.Addr().String())
		m.issuer.AltHTTPPort = port
	}
	if m.issuer.DisableTLSALPNChallenge && m.issuer.DisableHTTPChallenge && m.cfg.DNSProvider == nil {
		return errors.New("tlsacme: no challenge can be answered: needs a TLS listener, an HTTP-01 listener or a DNS provider")
	}
	return nil
}

func portOf(hostport string) (int, error) {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// serveHTTP answers HTTP-01 challenges; anything else is 404.
func (m *Manager) serveHTTP() {
	m.httpSrv = &http.Server{
		Handler: m.issuer.HTTPChallengeHandler(http.NotFoundHandler()),
		// The CA's validator sends one small GET; nothing legitimate
		// needs longer, and an idle or trickling client must not hold
		// a goroutine.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
	}
	m.wg.Go(func() { m.httpSrv.Serve(m.httpLn) })
}

// obtainLoop loads or obtains every domain's certificate, retrying with
// backoff until all are held or Close. certmagic's ManageAsync would
// retry too, but on its own fixed schedule and without telling anyone
// what is pending; ManageSync in a loop we own gives both. Renewals are
// the cache's maintenance.
func (m *Manager) obtainLoop() {
	delay := m.cfg.RetryMin
	for {
		err := m.magic.ManageSync(m.ctx, m.cfg.Domains)
		m.refreshNames()
		if m.ctx.Err() != nil {
			return
		}
		m.setLastErr(err)
		if err == nil {
			return
		}
		m.logFailure(err, delay)
		t := time.NewTimer(delay)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, m.cfg.RetryMax)
	}
}

// logFailure logs a failed attempt with the CA's own reason when it gave
// one (a refused or rate-limited order), which is what an operator acts on.
func (m *Manager) logFailure(err error, retry time.Duration) {
	attrs := []any{"domains", m.Pending(), "retry_in", retry, "err", err}
	var p acme.Problem
	if errors.As(err, &p) {
		attrs = append(attrs, "ca_problem", p.Type, "ca_detail", p.Detail)
	}
	m.log.Warn("acme: certificate not obtained yet; relayd serves without it and retries", attrs...)
}

func (m *Manager) setLastErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr = err
}

// held reports whether the cache has a certificate for domain.
func (m *Manager) held(domain string) bool {
	return len(m.cache.AllMatchingCertificates(domain)) > 0
}

// Names are the domains that have a certificate.
func (m *Manager) Names() []string {
	var out []string
	for _, d := range m.cfg.Domains {
		if m.held(d) {
			out = append(out, d)
		}
	}
	return out
}

// Pending names the domains still without a certificate.
func (m *Manager) Pending() []string {
	var out []string
	for _, d := range m.cfg.Domains {
		if !m.held(d) {
			out = append(out, d)
		}
	}
	return out
}

// Status describes what is pending, one line per domain without a
// certificate, with the last error; empty when every certificate is held.
// It backs the admin /readyz body.
func (m *Manager) Status() []string {
	m.mu.Lock()
	lastErr := m.lastErr
	m.mu.Unlock()
	var out []string
	for _, d := range m.Pending() {
		line := "acme certificate for " + d + ": pending"
		if lastErr != nil {
			line += " (last attempt: " + lastErr.Error() + ")"
		}
		out = append(out, line)
	}
	return out
}

// refreshNames calls OnNames when more domains have a certificate than
// were last announced.
func (m *Manager) refreshNames() {
	names := m.Names()
	m.mu.Lock()
	changed := !slices.Equal(names, m.announced)
	m.announced = names
	m.mu.Unlock()
	if changed && len(names) > 0 && m.cfg.OnNames != nil {
		m.cfg.OnNames(names)
	}
}

// onEvent turns certmagic's events into metrics and logs. It runs
// synchronously inside certmagic, so it only counts and logs.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	renewal, _ := data["renewal"].(bool)
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		m.metrics.outcome(renewal, "success")
		m.log.Info("acme: certificate "+verb(renewal), "domain", name, "issuer", data["issuer"])
	case "cert_failed":
		m.metrics.outcome(renewal, "failure")
		attrs := []any{"domain", name, "renewal", renewal, "err", data["error"]}
		if err, ok := data["error"].(error); ok {
			var p acme.Problem
			if errors.As(err, &p) {
				attrs = append(attrs, "ca_problem", p.Type, "ca_detail", p.Detail)
			}
		}
		m.log.Warn("acme: certificate order failed", attrs...)
	}
	return nil
}

func verb(renewal bool) string {
	if renewal {
		return "renewed"
	}
	return "obtained"
}

// Close stops obtaining, renewing and HTTP-01, waits for its goroutines
// and releases what New built. Served certificates stay in the TLS config
// of listeners still open. Safe to call more than once.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		m.mu.Lock()
		m.started = true // a late Start must not begin anything
		srv := m.httpSrv
		m.mu.Unlock()
		if srv != nil {
			srv.Close()
		} else if m.httpLn != nil {
			m.httpLn.Close()
		}
		m.wg.Wait()
		m.cache.Stop()
		m.closeStorage()
	})
	return nil
}
