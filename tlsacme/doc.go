// Package tlsacme gets, serves and renews the /wss certificate by ACME
// (RFC 8555), with certmagic (v0.25.6) embedded the way its "advanced use"
// describes: the Manager owns its own certmagic.Cache and certmagic.Config
// and never touches certmagic's package defaults (Default, NewDefault,
// HTTPS), so two Managers in one process are independent.
//
// Lifecycle: New checks the Config, builds the cache (whose maintenance
// goroutine renews certificates) and binds the HTTP-01 listener; TLSConfig
// is handed to the /wss listener (relay.Config.TLSConfig); Start, once the
// listeners are bound, tells certmagic where TLS-ALPN-01 and HTTP-01 are
// answered and starts obtaining; Close stops obtaining, HTTP-01 and the
// cache (Cache.Stop) and waits for them. Obtaining is ManageSync in a loop
// the Manager owns, with backoff from RetryMin (30 s) doubling to RetryMax
// (30 min): certmagic's ManageAsync retries on its own fixed schedule and
// cannot say what is pending, which /readyz needs (Status). Renewal is
// certmagic's maintenance (RenewCheckInterval, default 10 min; renewal
// starts with RenewalWindowRatio, default 1/3, of the lifetime left, or
// when the CA's ARI window says). Certificates are looked up per TLS
// handshake, so a renewed one serves new connections at once while
// established connections keep theirs.
//
// Challenges: TLS-ALPN-01 on the /wss listener itself (TLSConfig keeps
// "acme-tls/1" in NextProtos after relayd's "http/1.1"); HTTP-01 on
// Config.HTTPListen; DNS-01 through Config.DNSProvider, any libdns
// provider, of which relayd wires RFC2136 (dynamic updates signed with
// TSIG). With a DNS provider, DNS-01 is the only challenge used. To wire
// another provider: add its module, build it in cmd/relayd's newACME from
// new settings beside acme_dns_server, and set it as Config.DNSProvider.
//
// Storage: Config.Storage, else a RedisStorage on Config.Redis (a fleet
// shares the account, one order per name and the challenge answers: the
// node the CA reaches answers even when another placed the order), else a
// certmagic.FileStorage in Config.StorageDir. RedisStorage keeps each file
// as a hash and an index set under one Redis Cluster hash tag, and locks
// with SET NX PX plus a renewal by the holder and a compare-and-delete
// unlock.
//
// Failures: a CA that cannot be reached, or that refuses or rate-limits
// the order, is logged with the CA's problem type and detail and retried;
// the relay serves everything else meanwhile. Malformed domains and CA
// URLs fail New (CheckDomain, CheckCA).
//
// Announcing: Config.OnNames receives the domains that have a certificate
// whenever that set changes; relayd passes them to
// relay.Relay.AnnounceTLSNames, which advertises /dns4/<name>/tcp/<port>/tls/ws
// and /wss in identify and in reservations.
//
// Metrics (on Config.Metrics):
//
//	relayd_tls_certificate_expiry_timestamp_seconds{domain}  gauge, notAfter of the served certificate (absent until one is held)
//	relayd_tls_renewals_total{result}                         counter, renewals by result: success, failure
//	relayd_tls_obtains_total{result}                          counter, first orders by result: success, failure
//
// Logs: everything, certmagic's included (through a zap core that writes
// to the slog handler), goes to Config.Logger.
package tlsacme
