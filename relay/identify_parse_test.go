package relay_test

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"
)

type identifyMsg struct {
	agent     string
	protocols []string
	listen    []ma.Multiaddr
	observed  ma.Multiaddr
	record    []byte
}

// parseIdentify decodes the fields the tests check, independently of the
// host's encoder.
func parseIdentify(t *testing.T, b []byte) identifyMsg {
	t.Helper()
	var m identifyMsg
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			t.Fatalf("bad identify field at %x", b)
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			t.Fatal("bad identify bytes")
		}
		b = b[n:]
		switch num {
		case 6:
			m.agent = string(v)
		case 3:
			m.protocols = append(m.protocols, string(v))
		case 2:
			a, err := ma.NewMultiaddrBytes(v)
			if err != nil {
				t.Fatal(err)
			}
			m.listen = append(m.listen, a)
		case 4:
			a, err := ma.NewMultiaddrBytes(v)
			if err != nil {
				t.Fatal(err)
			}
			m.observed = a
		case 8:
			m.record = v
		}
	}
	return m
}
