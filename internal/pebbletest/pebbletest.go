package pebbletest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long pebble may take to serve its directory.
const startTimeout = 20 * time.Second

// Options shape the CA. The zero value is a CA issuing 90-day
// certificates for any name.
type Options struct {
	// Validity is the lifetime of issued certificates. Default 90 days.
	Validity time.Duration
	// Blocklist are domains pebble refuses to issue for
	// (urn:ietf:params:acme:error:rejectedIdentifier).
	Blocklist []string
	// DNSServer (host:port), when set, is the DNS server pebble resolves
	// and checks DNS-01 records with, instead of challtestsrv.
	DNSServer string
}

// Server is one pebble and its challtestsrv, on ports fixed at New so a
// test can point a client at a CA that is not running yet.
type Server struct {
	// Directory is the ACME directory URL.
	Directory string
	// CARootFile is a PEM file trusting pebble's HTTPS listeners.
	CARootFile string
	// TLSPort and HTTPPort are where pebble validates TLS-ALPN-01 and
	// HTTP-01 on 127.0.0.1.
	TLSPort, HTTPPort int
	// DNSAddr is challtestsrv's DNS server (host:port).
	DNSAddr string

	t       testing.TB
	opts    Options
	dir     string
	mgmt    string // pebble's management API host:port
	chall   string // challtestsrv's management API host:port
	client  *http.Client
	pebble  string // binary paths
	challts string

	mu    sync.Mutex
	procs []*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// New prepares a CA on free loopback ports without starting it.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{
		t: t, opts: opts, dir: t.TempDir(),
		pebble: binary(t, "pebble"), challts: binary(t, "pebble-challtestsrv"),
		TLSPort: freePort(t), HTTPPort: freePort(t),
		DNSAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		mgmt:    "127.0.0.1:" + strconv.Itoa(freePort(t)),
		chall:   "127.0.0.1:" + strconv.Itoa(freePort(t)),
	}
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	s.Directory = "https://" + listen + "/dir"
	pool := s.writeTLS()
	s.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	s.writeConfig(listen, opts)
	t.Cleanup(s.Stop)
	return s
}

// Start runs challtestsrv and pebble and waits for the directory.
func Start(t testing.TB, opts Options) *Server {
	s := New(t, opts)
	s.Start()
	return s
}

// Start runs challtestsrv and pebble (again, after Stop) and waits until
// pebble serves its directory.
func (s *Server) Start() {
	s.t.Helper()
	s.run("challtestsrv", s.challts,
		"-dnsserver", s.DNSAddr, "-management", s.chall,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	dnsServer := s.DNSAddr
	if s.opts.DNSServer != "" {
		dnsServer = s.opts.DNSServer
	}
	s.run("pebble", s.pebble, "-config", filepath.Join(s.dir, "pebble.json"), "-dnsserver", dnsServer)
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := s.client.Get(s.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pebbletest: pebble did not serve %s within %s: %v\n%s", s.Directory, startTimeout, err, s.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) run(name, bin string, args ...string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(cleanEnv(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("pebbletest: start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

// cleanEnv is the environment without PEBBLE_* settings that would make
// the CA skip or alter validation.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") {
			out = append(out, kv)
		}
	}
	return out
}

// Stop kills both processes and waits for them. Pebble keeps everything
// in memory: a restart forgets accounts and orders and makes a new root.
func (s *Server) Stop() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Kill()
		<-p.done
	}
	if s.t.Failed() {
		s.t.Logf("pebbletest logs:\n%s", s.logs())
	}
}

func (s *Server) logs() string {
	var b strings.Builder
	for _, n := range []string{"pebble", "challtestsrv"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, n+".log"))
		fmt.Fprintf(&b, "--- %s ---\n%s\n", n, data)
	}
	return b.String()
}

// IssuerRoots fetches the root the running pebble issues under, from its
// management API.
func (s *Server) IssuerRoots() *x509.CertPool {
	s.t.Helper()
	resp, err := s.client.Get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		s.t.Fatalf("pebbletest: fetch root: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("pebbletest: fetch root: %s %v", resp.Status, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		s.t.Fatalf("pebbletest: root is not PEM: %q", b)
	}
	return pool
}

// IssuerRootPEM is IssuerRoots as PEM, for tools that read files.
func (s *Server) IssuerRootPEM() []byte {
	s.t.Helper()
	resp, err := s.client.Get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		s.t.Fatalf("pebbletest: fetch root: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// SetTXT makes challtestsrv answer TXT queries for host (a FQDN with the
// final dot) with value: the DNS-01 provider of tests.
func (s *Server) SetTXT(ctx context.Context, host, value string) error {
	return s.challtest(ctx, "/set-txt", map[string]string{"host": host, "value": value})
}

// ClearTXT removes what SetTXT added for host.
func (s *Server) ClearTXT(ctx context.Context, host string) error {
	return s.challtest(ctx, "/clear-txt", map[string]string{"host": host})
}

func (s *Server) challtest(ctx context.Context, path string, body map[string]string) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.chall+path, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv %s: %s", path, resp.Status)
	}
	return nil
}

func (s *Server) writeConfig(listen string, opts Options) {
	validity := opts.Validity
	if validity <= 0 {
		validity = 90 * 24 * time.Hour
	}
	var cfg struct {
		Pebble map[string]any `json:"pebble"`
	}
	cfg.Pebble = map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": s.mgmt,
		"certificate":             filepath.Join(s.dir, "cert.pem"),
		"privateKey":              filepath.Join(s.dir, "key.pem"),
		"httpPort":                s.HTTPPort,
		"tlsPort":                 s.TLSPort,
		"ocspResponderURL":        "",
		"domainBlocklist":         append([]string{}, opts.Blocklist...),
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": int(validity.Seconds()),
		}},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(s.dir, "pebble.json"), b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// writeTLS makes a throwaway CA and a certificate for 127.0.0.1 signed by
// it for pebble's HTTPS listeners, and returns a pool trusting the CA.
func (s *Server) writeTLS() *x509.CertPool {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	s.CARootFile = filepath.Join(s.dir, "ca.pem")
	for name, block := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// binary finds a pebble tool: $PEBBLE_BIN/<name>, $PATH, $GOPATH/bin.
func binary(t testing.TB, name string) string {
	t.Helper()
	var tries []string
	if d := os.Getenv("PEBBLE_BIN"); d != "" {
		tries = append(tries, filepath.Join(d, name))
	}
	if p, err := exec.LookPath(name); err == nil {
		tries = append(tries, p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			tries = append(tries, filepath.Join(d, "bin", name))
		}
	}
	for _, p := range tries {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("pebbletest: %s not found; install it: go install github.com/letsencrypt/pebble/v2/cmd/%s@v2.10.1", name, name)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort picks a loopback TCP port that is free now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Issued counts the certificates pebble has issued since New (across
// restarts), from its log.
func (s *Server) Issued() int {
	data, _ := os.ReadFile(filepath.Join(s.dir, "pebble.log"))
	return strings.Count(string(data), "Issued certificate serial")
}
