package p2ptls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// PeerKey receives the peer's host key once its certificate has been
// verified during a handshake.
type PeerKey struct {
	key atomic.Pointer[identity.PublicKey]
}

// Get is the verified key, or nil if no certificate was verified (the
// handshake failed or has not got that far).
func (k *PeerKey) Get() identity.PublicKey {
	if p := k.key.Load(); p != nil {
		return *p
	}
	return nil
}

// ConfigForPeer returns a single-use tls.Config for one handshake in
// either role. It verifies the peer's certificate as the spec says and,
// when remote is not empty, that the certificate is remote's; the verified
// key is stored in the returned PeerKey. A server builds one per handshake
// from GetConfigForClient.
func (i *Identity) ConfigForPeer(remote identity.PeerID) (*tls.Config, *PeerKey) {
	pk := new(PeerKey)
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{i.cert},
		NextProtos:   []string{ALPN},
		// The chain is a lone self-signed certificate: there is no CA to
		// check it against. VerifyPeerCertificate does the real check.
		InsecureSkipVerify:     true,
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			key, err := VerifyChain(rawCerts, time.Now())
			if err != nil {
				return err
			}
			if remote != "" {
				if got := identity.IDFromPublicKey(key); got != remote {
					return fmt.Errorf("%w: dialed %s, certificate is %s's", ErrPeerMismatch, remote, got)
				}
			}
			pk.key.Store(&key)
			return nil
		},
	}
	return conf, pk
}
