package redistest

import "testing"

func TestServerStopRestart(t *testing.T) {
	s := Start(t)
	if err := Ping(s.Addr); err != nil {
		t.Fatalf("ping: %v", err)
	}
	s.Stop()
	if err := Ping(s.Addr); err == nil {
		t.Fatal("ping after Stop answered")
	}
	s.Restart(t)
	if err := Ping(s.Addr); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("short: cluster start takes a few seconds")
	}
	c := StartCluster(t)
	for _, a := range c.Addrs {
		if !clusterOK("redis-cli", a) {
			t.Errorf("node %s: cluster not ok", a)
		}
	}
	if got := c.URL(); got == "" {
		t.Fatal("empty URL")
	}
}
