package redistest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three masters and no replicas on loopback.
type Cluster struct {
	// Addrs are the masters' host:port, the seeds for a cluster client.
	Addrs   []string
	Servers []*Server
}

// URL is a go-redis cluster URL (redis.ParseClusterURL): the first master
// as host, the others as addr= parameters.
func (c *Cluster) URL() string {
	var q []string
	for _, a := range c.Addrs[1:] {
		q = append(q, "addr="+a)
	}
	return "redis://" + c.Addrs[0] + "?" + strings.Join(q, "&")
}

// StartCluster starts three cluster-mode redis-servers, joins them with
// redis-cli --cluster create and waits until every node reports
// cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := binary(t, "redis-server")
	cli := binary(t, "redis-cli")
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		var s *Server
		for try := 0; ; try++ {
			port := freePort(t, true)
			s = newServer(t, bin, port, []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
				"--cluster-node-timeout", "2000",
			})
			err := s.start()
			if err == nil {
				break
			}
			if try == 4 {
				t.Fatalf("redistest: cluster node: %v", err)
			}
		}
		t.Cleanup(s.Stop)
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, lastLines(string(out), 10))
	}
	deadline := time.Now().Add(startTimeout)
	for _, a := range c.Addrs {
		for !clusterOK(cli, a) {
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok within %v", a, startTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// clusterOK asks one node whether it sees the whole cluster as ok.
func clusterOK(cli, addr string) bool {
	out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", addr[strings.LastIndex(addr, ":")+1:], "cluster", "info").Output()
	return err == nil && strings.Contains(string(out), "cluster_state:ok")
}
