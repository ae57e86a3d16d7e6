// Command relayd is a dedicated libp2p Circuit Relay v2 server.
//
// Usage:
//
//	relayd [serve] [flags]    run the relay (the default command)
//	relayd keygen [-o FILE]   create an identity key file, print its peer ID
//	relayd version            print version and commit
//	relayd help [command]     print usage
//
// This package owns the command line: it turns defaults, an optional YAML
// file (--config or RELAYD_CONFIG), RELAYD_* environment variables and flags
// into one validated Config (later sources win, flags last), builds the
// logger, and hands both to serve. It does no networking itself.
//
// Every default is written once, in defaultConfig; `relayd --print-config`
// prints the effective configuration and docs/config.md lists every field.
//
// Exit codes: 0 success (also help and --print-config), 1 runtime failure,
// 2 bad usage or configuration. Errors are one line on stderr that name the
// flag, environment variable or YAML key at fault.
//
// The version printed by `relayd version` comes from the module build info
// (version, vcs.revision) and can be set at link time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
package main
