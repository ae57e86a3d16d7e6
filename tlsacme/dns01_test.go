package tlsacme_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
	"github.com/relayd/relayd/tlsacme"
)

// zoneServer is an authoritative server for one zone that takes TSIG-signed
// RFC 2136 updates of TXT records and answers every A query with
// 127.0.0.1. It stands in for BIND or Knot (which are not on the test
// machines) as the server relayd's RFC2136 provider updates and pebble
// queries: a real DNS exchange on both sides, on loopback.
type zoneServer struct {
	zone    string
	keyName string
	addr    string
	servers []*dns.Server

	mu      sync.Mutex
	txt     map[string][]string
	updates int
}

func startZoneServer(t *testing.T, zone, keyName, secret string) *zoneServer {
	t.Helper()
	z := &zoneServer{zone: zone, keyName: keyName, txt: make(map[string][]string)}
	pc, l := udpAndTCP(t)
	z.addr = pc.LocalAddr().String()
	tsig := map[string]string{keyName: secret}
	// miekg/dns answers NOTIMP to UPDATE unless told to accept every opcode.
	accept := func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: z, TsigSecret: tsig, MsgAcceptFunc: accept},
		{Listener: l, Handler: z, TsigSecret: tsig, MsgAcceptFunc: accept},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); srv.ActivateAndServe() }()
		<-started
		z.servers = append(z.servers, srv)
		t.Cleanup(func() { srv.Shutdown(); <-done })
	}
	return z
}

// udpAndTCP binds one loopback port for both UDP and TCP, as DNS needs.
func udpAndTCP(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close() // the TCP port is taken: try another
	}
	t.Fatal("no port free for both UDP and TCP")
	return nil, nil
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if r.Opcode == dns.OpcodeUpdate {
		z.update(w, r, m)
	} else if len(r.Question) == 1 {
		z.answer(r.Question[0], m)
	}
	w.WriteMsg(m)
}

// update applies TXT inserts (class IN) and deletes (class NONE) from a
// request signed with the zone's key, and signs the reply.
func (z *zoneServer) update(w dns.ResponseWriter, r, m *dns.Msg) {
	if r.IsTsig() == nil || w.TsigStatus() != nil {
		m.Rcode = dns.RcodeNotAuth
		return
	}
	m.SetTsig(z.keyName, r.IsTsig().Algorithm, 300, time.Now().Unix())
	z.mu.Lock()
	defer z.mu.Unlock()
	z.updates++
	for _, rr := range r.Ns {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		name := strings.ToLower(txt.Hdr.Name)
		val := strings.Join(txt.Txt, "")
		switch txt.Hdr.Class {
		case dns.ClassINET:
			z.txt[name] = append(z.txt[name], val)
		case dns.ClassNONE:
			vals := z.txt[name][:0]
			for _, v := range z.txt[name] {
				if v != val {
					vals = append(vals, v)
				}
			}
			z.txt[name] = vals
		}
	}
}

func (z *zoneServer) answer(q dns.Question, m *dns.Msg) {
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 1}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: z.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
		Ns: "ns." + z.zone, Mbox: "hostmaster." + z.zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1}
	switch q.Qtype {
	case dns.TypeA:
		hdr.Rrtype = dns.TypeA
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
	case dns.TypeTXT:
		z.mu.Lock()
		for _, v := range z.txt[name] {
			hdr.Rrtype = dns.TypeTXT
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
		}
		z.mu.Unlock()
	case dns.TypeSOA:
		if name == z.zone {
			m.Answer = append(m.Answer, soa)
			return
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, soa)
	}
}

// TestObtainDNS01: with only DNS-01 (no TLS-ALPN or HTTP listener), the
// RFC2136 provider adds the challenge record by a TSIG-signed update,
// pebble finds it, and the record is removed afterwards.
func TestObtainDNS01(t *testing.T) {
	leakcheck.Check(t)
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
	z := startZoneServer(t, "relayd.test.", "acme-key.", secret)
	keyFile := t.TempDir() + "/acme.key"
	writeFile(t, keyFile, "key \"acme-key\" {\n\talgorithm hmac-sha256;\n\tsecret \""+secret+"\";\n};\n")
	p, err := tlsacme.NewRFC2136(tlsacme.RFC2136Config{Server: z.addr, TSIGKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ca := pebbletest.Start(t, pebbletest.Options{DNSServer: z.addr})
	const domain = "dns.relayd.test"
	cfg := baseConfig(t, ca, domain)
	cfg.DNSProvider = p
	cfg.DNSResolvers = []string{z.addr}
	cfg.DNSPropagationTimeout = -1 // the "authoritative servers" would be looked up on port 53
	n := startNode(t, cfg, 0, false)
	n.waitNames(t, domain)
	served(t, n.wss, domain, ca.IssuerRoots())
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.updates < 2 {
		t.Errorf("%d updates, want an insert and a delete", z.updates)
	}
	if left := z.txt["_acme-challenge."+domain+"."]; len(left) != 0 {
		t.Errorf("challenge record left behind: %q", left)
	}
}

// TestTSIGKeyFile: tsig-keygen's format parses; anything else is a clear
// error.
func TestTSIGKeyFile(t *testing.T) {
	for _, tc := range []struct {
		in, wantName, wantErr string
	}{
		{"key \"acme\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n", "acme.", ""},
		{`key acme.example. { algorithm HMAC-SHA512; secret "c2VjcmV0"; };`, "acme.example.", ""},
		{`key "acme" { algorithm hmac-md5; secret "c2VjcmV0"; };`, "", "unsupported TSIG algorithm"},
		{`secret "c2VjcmV0";`, "", "tsig-keygen"},
	} {
		name, _, _, err := tlsacme.ParseTSIGKey(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTSIGKey(%q) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || name != tc.wantName {
			t.Errorf("ParseTSIGKey(%q) = %q, %v; want %q", tc.in, name, err, tc.wantName)
		}
	}
}

// FuzzParseTSIGKey: no key file crashes the parser, and what it accepts
// has a fully qualified name and a known algorithm.
func FuzzParseTSIGKey(f *testing.F) {
	f.Add("key \"acme\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n")
	f.Add(`key x { algorithm hmac-sha1; secret "=="; };`)
	f.Add(`key "" {`)
	f.Fuzz(func(t *testing.T, s string) {
		name, alg, secret, err := tlsacme.ParseTSIGKey(s)
		if err != nil {
			return
		}
		if !strings.HasSuffix(name, ".") || !strings.HasSuffix(alg, ".") || secret == "" {
			t.Fatalf("ParseTSIGKey(%q) = %q, %q, %q", s, name, alg, secret)
		}
	})
}
