package main

import (
	"fmt"
	"io"
	"strings"
)

const usageHeader = `relayd is a dedicated libp2p Circuit Relay v2 server.

Usage:
  relayd [serve] [flags]    run the relay (the default command)
  relayd keygen [-o FILE]   create an Ed25519 identity key file and print its peer ID
  relayd probe ADDR         check a relay end to end: reserve, connect, echo,
                            hole punch (--holepunch)
  relayd bench ADDR         load-test a running relay: reservations/s,
                            circuit setup latency, throughput
  relayd healthcheck        GET /healthz on the admin endpoint; exit 0 if it answers 200
  relayd version            print version and commit
  relayd help [command]     print this help, or a command's

Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.

Serve flags. Each can also be set by the environment variable shown, or by
its key in the YAML file given with --config; a flag beats the environment,
which beats the file, which beats the default.

  --config FILE                     env RELAYD_CONFIG
        YAML config file, keys as in --print-config
  --print-config
        print the effective configuration as YAML and exit
`

const keygenUsage = `Usage: relayd keygen [-o FILE] [-if-missing]

Creates a new Ed25519 identity key file (mode 0600) and prints the peer ID it
gives the relay. It never overwrites an existing file.

  -o FILE
        file to create (default relayd.key)
  -if-missing
        if FILE exists, keep it and print its peer ID instead of failing
        (for init jobs that run on every start; also reads a mounted key)
`

// writeUsage prints the serve help. Defaults come from defaultConfig, so
// the help cannot disagree with what the daemon does.
func writeUsage(w io.Writer) {
	var sb strings.Builder
	sb.WriteString(usageHeader)
	d := defaultConfig()
	for _, b := range bindings(&d) {
		name := "--" + flagName(b.key) + " " + b.arg
		fmt.Fprintf(&sb, "  %-33s env %s\n", name, envName(b.key))
		fmt.Fprintf(&sb, "        %s (default %s)\n", b.usage, defaultText(b.value))
	}
	io.WriteString(w, sb.String())
}

// defaultText shows an empty default as "none" rather than as nothing.
func defaultText(v value) string {
	s := v.String()
	if s == "" {
		return "none"
	}
	return strings.ReplaceAll(s, ",", ", ")
}
