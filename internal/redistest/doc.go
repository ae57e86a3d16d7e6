// Package redistest runs real redis-server processes for tests: a single
// server on a free loopback port (Start), which fault tests can stop and
// restart on the same port, and a 3-master Redis Cluster (StartCluster).
//
// Tests never mock Redis. Where redis-server is not installed a test is
// skipped with a message naming the package to install, unless CI is set:
// then it fails, because CI must run every test (.ci/run installs the
// redis-server and redis-tools packages).
//
// Servers keep nothing on disk (no RDB, no AOF; cluster state files live in
// the test's temp dir) and are killed in t.Cleanup.
package redistest
