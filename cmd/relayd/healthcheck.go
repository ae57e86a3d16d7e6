package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// healthcheckTimeout bounds one check. Docker and Kubernetes run checks
// with their own timeouts; this one makes sure the process exits before
// them, with a message, rather than being killed silently.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck GETs /healthz (or --path) on the admin endpoint and
// succeeds on 200. It exists so a container image without a shell or curl
// can still have a HEALTHCHECK: the image runs `relayd healthcheck`.
//
// The address comes from --admin-listen, else RELAYD_ADMIN_LISTEN (the same
// variable serve reads, so a container configured by environment needs no
// extra setting), else serve's default. A wildcard host (0.0.0.0, ::, empty)
// is dialled on loopback, where a wildcard listener also answers.
func runHealthcheck(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	fset := flag.NewFlagSet("relayd healthcheck", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	addr := fset.String("admin-listen", "", "admin endpoint host:port")
	path := fset.String("path", "/healthz", "URL path to GET")
	err := fset.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, healthcheckUsage)
		return nil
	}
	if err != nil {
		return usageError{fmt.Errorf("healthcheck: %w", err)}
	}
	if fset.NArg() > 0 {
		return usageError{fmt.Errorf("healthcheck: unexpected argument %q", fset.Arg(0))}
	}
	url, err := healthcheckURL(*addr, *path, lookupEnv)
	if err != nil {
		return usageError{fmt.Errorf("healthcheck: %w", err)}
	}
	// Not the signal context: a check is short and bounded, and a half-done
	// one has nothing to clean up.
	ctx, cancel := context.WithTimeout(context.Background(), healthcheckTimeout)
	defer cancel()
	return getOK(ctx, url)
}

// healthcheckURL picks the address as runHealthcheck documents.
func healthcheckURL(addr, path string, lookupEnv func(string) (string, bool)) (string, error) {
	if addr == "" {
		if v, ok := lookupEnv(envName("admin_listen")); ok && v != "" {
			addr = v
		} else {
			addr = defaultConfig().AdminListen
		}
	}
	if err := checkAdminListen(addr); err != nil || addr == "" {
		return "", fmt.Errorf("admin address: %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if err == nil && ip.Is6() {
			host = "::1"
		}
	}
	if len(path) == 0 || path[0] != '/' {
		return "", fmt.Errorf("path must start with /, got %q", path)
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// One request per process: no connection is worth keeping alive, and
	// an idle one would outlive the check.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", url, resp.Status)
	}
	return nil
}

const healthcheckUsage = `Usage: relayd healthcheck [--admin-listen HOST:PORT] [--path /healthz]

GETs the path on relayd's admin endpoint and exits 0 on HTTP 200, 1 on
anything else (2 on bad usage). For container health checks in images
without a shell. The address defaults to $RELAYD_ADMIN_LISTEN, else to
serve's default admin address; a wildcard host is dialled on loopback.
`
