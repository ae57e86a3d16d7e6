// Package deploytest checks relayd's deployment files without Docker or
// Kubernetes: the Helm chart in helm/relayd (rendered with the helm binary
// for the default values and every helm/relayd/ci/*-values.yaml, each object
// decoded strictly into its k8s.io/api type, the container args run through
// `relayd --print-config`), its values schema, the Dockerfile's build line
// (run outside Docker: static binary, stamped version) and the compose file.
//
// It is a separate module so that relayd's own module never depends on
// Kubernetes packages. It builds relayd from the repository root (two
// directories up) and needs helm on PATH: .ci/run installs it; without it the
// chart tests skip, or fail when CI=true.
//
// Every flag the chart and the compose file pass must be one relayd
// knows, and `relayd <args> --print-config` must accept them;
// RELAYD_BIN=/path/to/relayd checks against a relayd built elsewhere.
package deploytest
