package p2ptls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newIdentity(t testing.TB, key ed25519.PrivateKey) *Identity {
	t.Helper()
	id, err := NewIdentity(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOwnCertificateRoundTrip(t *testing.T) {
	key := newKey(t)
	id := newIdentity(t, key)
	got, err := VerifyChain(id.Certificate().Certificate, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if identity.IDFromPublicKey(got) != identity.PeerIDOf(key) {
		t.Fatal("verified key is not the host key")
	}
	leaf := id.Certificate().Leaf
	if len(leaf.UnhandledCriticalExtensions) != 0 || leaf.Subject.SerialNumber == "" {
		t.Fatalf("unexpected certificate shape: %+v", leaf)
	}
	if d := time.Until(leaf.NotAfter); d < 99*365*24*time.Hour {
		t.Fatalf("certificate expires in %v", d)
	}
}

// certOpts shapes a hand-made certificate for the rejection tests.
type certOpts struct {
	noExtension   bool
	critical      bool          // mark the libp2p extension critical
	otherCritical bool          // add an unknown critical extension
	signOtherKey  bool          // extension signs a different certificate key
	notBefore     time.Duration // relative to now; default -1h
	notAfter      time.Duration // relative to now; default +1h
}

func makeCert(t testing.TB, hostKey ed25519.PrivateKey, o certOpts) tls.Certificate {
	t.Helper()
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl, err := certTemplate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if o.notBefore != 0 {
		tmpl.NotBefore = time.Now().Add(o.notBefore)
	}
	if o.notAfter != 0 {
		tmpl.NotAfter = time.Now().Add(o.notAfter)
	}
	if !o.noExtension {
		signed := any(&certKey.PublicKey)
		if o.signOtherKey {
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			signed = &other.PublicKey
		}
		ext, err := signedKeyExtension(hostKey, signed)
		if err != nil {
			t.Fatal(err)
		}
		ext.Critical = o.critical
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	if o.otherCritical {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{
			Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0},
		})
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: certKey}
}

func TestVerifyRejects(t *testing.T) {
	key := newKey(t)
	good := makeCert(t, key, certOpts{}).Certificate[0]
	tests := []struct {
		name  string
		chain [][]byte
		want  error
	}{
		{"no extension", [][]byte{makeCert(t, key, certOpts{noExtension: true}).Certificate[0]}, ErrNoExtension},
		{"unknown critical extension", [][]byte{makeCert(t, key, certOpts{otherCritical: true}).Certificate[0]}, ErrInvalidCertificate},
		{"extension signs another key", [][]byte{makeCert(t, key, certOpts{signOtherKey: true}).Certificate[0]}, ErrInvalidCertificate},
		{"expired", [][]byte{makeCert(t, key, certOpts{notBefore: -2 * time.Hour, notAfter: -time.Hour}).Certificate[0]}, ErrInvalidCertificate},
		{"not yet valid", [][]byte{makeCert(t, key, certOpts{notBefore: time.Hour, notAfter: 2 * time.Hour}).Certificate[0]}, ErrInvalidCertificate},
		{"two certificates", [][]byte{good, good}, ErrInvalidCertificate},
		{"no certificate", nil, ErrInvalidCertificate},
		{"garbage", [][]byte{{0x30, 0x03, 1, 2, 3}}, ErrInvalidCertificate},
		{"broken self-signature", [][]byte{flipSignature(good)}, ErrInvalidCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyChain(tt.chain, time.Now()); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// flipSignature corrupts the last byte of the certificate's signature.
func flipSignature(der []byte) []byte {
	b := append([]byte(nil), der...)
	b[len(b)-1] ^= 1
	return b
}

func TestCriticalExtensionAccepted(t *testing.T) {
	key := newKey(t)
	got, err := VerifyChain(makeCert(t, key, certOpts{critical: true}).Certificate, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if identity.IDFromPublicKey(got) != identity.PeerIDOf(key) {
		t.Fatal("wrong key")
	}
}

// handshake runs a TLS handshake over loopback TCP (buffered, so a side
// that fails can send its alert) and returns both sides' errors.
func handshake(t *testing.T, client, server *tls.Config) (cerr, serr error) {
	t.Helper()
	leakcheck.Check(t)
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		s := tls.Server(b, server)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 clients finish before the server has checked
			// their certificate: read to see the server's verdict.
			_, err = s.Read(make([]byte, 1))
		}
		b.Close()
		done <- err
	}()
	c := tls.Client(a, client)
	cerr = c.Handshake()
	if cerr == nil {
		c.Write([]byte{1})
		_, cerr = c.Read(make([]byte, 1))
	}
	a.Close()
	return cerr, <-done
}

func TestHandshake(t *testing.T) {
	ck, sk := newKey(t), newKey(t)
	cid, sid := newIdentity(t, ck), newIdentity(t, sk)

	t.Run("ok", func(t *testing.T) {
		cc, cpk := cid.ConfigForPeer(identity.PeerIDOf(sk))
		sc, spk := sid.ConfigForPeer("")
		handshake(t, cc, sc)
		if cpk.Get() == nil || identity.IDFromPublicKey(cpk.Get()) != identity.PeerIDOf(sk) {
			t.Fatal("client did not learn the server's key")
		}
		if spk.Get() == nil || identity.IDFromPublicKey(spk.Get()) != identity.PeerIDOf(ck) {
			t.Fatal("server did not learn the client's key")
		}
	})
	t.Run("wrong peer", func(t *testing.T) {
		cc, cpk := cid.ConfigForPeer(identity.PeerIDOf(newKey(t)))
		sc, _ := sid.ConfigForPeer("")
		cerr, _ := handshake(t, cc, sc)
		if !errors.Is(cerr, ErrPeerMismatch) || cpk.Get() != nil {
			t.Fatalf("client err = %v, want ErrPeerMismatch", cerr)
		}
	})
	t.Run("client without extension", func(t *testing.T) {
		cc, _ := cid.ConfigForPeer("")
		cc.Certificates = []tls.Certificate{makeCert(t, ck, certOpts{noExtension: true})}
		sc, spk := sid.ConfigForPeer("")
		_, serr := handshake(t, cc, sc)
		if !errors.Is(serr, ErrNoExtension) || spk.Get() != nil {
			t.Fatalf("server err = %v, want ErrNoExtension", serr)
		}
	})
	t.Run("server without extension", func(t *testing.T) {
		cc, cpk := cid.ConfigForPeer("")
		sc, _ := sid.ConfigForPeer("")
		sc.Certificates = []tls.Certificate{makeCert(t, sk, certOpts{noExtension: true})}
		cerr, _ := handshake(t, cc, sc)
		if !errors.Is(cerr, ErrNoExtension) || cpk.Get() != nil {
			t.Fatalf("client err = %v, want ErrNoExtension", cerr)
		}
	})
	t.Run("client sends no certificate", func(t *testing.T) {
		cc, _ := cid.ConfigForPeer("")
		cc.Certificates = nil
		sc, spk := sid.ConfigForPeer("")
		_, serr := handshake(t, cc, sc)
		if serr == nil || spk.Get() != nil {
			t.Fatal("server accepted a client without a certificate")
		}
	})
	t.Run("wrong ALPN", func(t *testing.T) {
		cc, _ := cid.ConfigForPeer("")
		cc.NextProtos = []string{"h3"}
		sc, spk := sid.ConfigForPeer("")
		_, serr := handshake(t, cc, sc)
		if serr == nil || spk.Get() != nil {
			t.Fatal("server accepted a client offering another ALPN")
		}
	})
	t.Run("TLS 1.2 refused", func(t *testing.T) {
		cc, _ := cid.ConfigForPeer("")
		cc.MinVersion, cc.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		sc, _ := sid.ConfigForPeer("")
		if _, serr := handshake(t, cc, sc); serr == nil {
			t.Fatal("server accepted TLS 1.2")
		}
	})
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	return a, b
}
