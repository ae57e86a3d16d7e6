// Package probe is an operator's end-to-end check of a relay, as clients
// use it: ephemeral peers (fresh identities, port-reusing TCP and QUIC,
// listening so they can be punched to) reserve, open a circuit, upgrade it
// (Noise, yamux), echo bytes through it, and optionally run DCUtR to reach
// a direct connection. Run does both peers in one process; RunListener and
// RunDialer are the two halves for peers behind different NATs.
//
// Metrics (NewMetrics, for `relayd probe --metrics-listen`):
// relayd_probe_runs_total{result}, relayd_probe_success,
// relayd_probe_last_run_timestamp_seconds,
// relayd_probe_step_duration_seconds{step},
// relayd_probe_holepunch_total{outcome,transport},
// relayd_probe_holepunch_attempts,
// relayd_probe_holepunch_time_to_direct_seconds,
// relayd_probe_limit_duration_seconds, relayd_probe_limit_data_bytes.
// They describe the prober, not the relay, so they are not on the relay's
// dashboard.
package probe
