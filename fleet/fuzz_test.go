package fleet

import "testing"

// FuzzCheckURL: no --redis value crashes relayd; one that is accepted
// builds a client.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379", "rediss://u:p@127.0.0.1:6380/2", "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002",
		"redis://:@/", "redis://h:1?addr=", "http://x", "redis://[::1]:6379/0?dial_timeout=1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckURL(s) == nil {
			c, err := NewClient(s, "m", 0)
			if err != nil {
				t.Fatalf("CheckURL accepted %q, NewClient with a master refused it: %v", s, err)
			}
			c.Close()
		}
	})
}
