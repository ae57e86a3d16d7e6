package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// FuzzParseIdentify: any input parses or fails without panicking, and our
// own identify message parses back to what we sent.
func FuzzParseIdentify(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k, Announce: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/4001")}})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Add(h.identifyMessage(ma.StringCast("/ip4/5.6.7.8/udp/1/quic-v1")))
	f.Add([]byte{0x22, 0x02, 0x04, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := parseIdentify(in)
		if err != nil {
			return
		}
		if info.ObservedAddr != nil && len(info.ObservedAddr.Bytes()) == 0 {
			t.Fatal("empty observed address accepted")
		}
	})
}

func TestParseOwnIdentify(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k, AgentVersion: "x/1", Announce: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/4001")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	obs := ma.StringCast("/ip4/5.6.7.8/udp/1/quic-v1")
	info, err := parseIdentify(h.identifyMessage(obs))
	if err != nil {
		t.Fatal(err)
	}
	if !info.ObservedAddr.Equal(obs) || info.AgentVersion != "x/1" || len(info.ListenAddrs) != 1 || len(info.Protocols) == 0 {
		t.Errorf("parsed %+v", info)
	}
}
