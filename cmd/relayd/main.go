package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis writes its pool errors straight to stderr, past slog and
	// the JSON log format; each also fails an operation that package fleet
	// logs and counts (relayd_redis_errors_total), so they are dropped. It
	// is a process-wide setting, so it is made here and not in run.
	redis.SetLogger(quietRedis{})
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go onSignals(sigs, cancel)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// onSignals turns the first SIGTERM or SIGINT into cancel, which makes
// serve drain; a second one exits at once, for an operator who will not
// wait for the drain. signal.NotifyContext cannot do this: it stops
// listening after the first signal.
func onSignals(sigs <-chan os.Signal, cancel context.CancelFunc) {
	<-sigs
	cancel()
	s := <-sigs
	fmt.Fprintf(os.Stderr, "relayd: second signal (%v), exiting without finishing the drain\n", s)
	os.Exit(exitFailure)
}

// Exit codes, documented in doc.go and the help text.
const (
	exitOK      = 0
	exitFailure = 1 // the relay or a command failed at run time
	exitUsage   = 2 // bad subcommand, flag, environment variable or config
)

// run is the whole program behind main, with its inputs and outputs passed
// in so tests can drive it. It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "relayd: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "relayd: %v\n", err)
		return exitFailure
	}
}

// dispatch picks the subcommand; serve is the default so that a bare
// `relayd` or `relayd --listen ...` runs the relay.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "keygen":
		return runKeygen(rest, stdout)
	case "version":
		return runVersion(rest, stdout)
	case "probe":
		return runProbe(ctx, rest, stdout)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(rest, os.LookupEnv, stdout)
	case "help":
		return runHelp(rest, stdout)
	}
	return usageError{fmt.Errorf("unknown command %q (want serve, keygen, probe, bench, healthcheck, version or help)", cmd)}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, opts, err := loadConfig(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(stdout)
		return nil
	}
	if err != nil {
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{fmt.Errorf("config: %w", err)}
	}
	if opts.printConfig {
		return writeConfig(stdout, cfg)
	}
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError{fmt.Errorf("config: %w", err)}
	}
	return serve(ctx, cfg, logger, loaderFor(args))
}

// newLogger builds the daemon's only logger; libraries get it (or a child
// of it) injected and never write to stderr themselves.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log_format: unknown format %q", format)
}

func runHelp(args []string, stdout io.Writer) error {
	switch {
	case len(args) > 1:
		return usageError{fmt.Errorf("help: want at most one command, got %d arguments", len(args))}
	case len(args) == 0, args[0] == "serve":
		writeUsage(stdout)
	case args[0] == "keygen":
		io.WriteString(stdout, keygenUsage)
	case args[0] == "probe":
		io.WriteString(stdout, probeUsage)
	case args[0] == "bench":
		io.WriteString(stdout, benchUsage)
	case args[0] == "healthcheck":
		io.WriteString(stdout, healthcheckUsage)
	case args[0] == "version", args[0] == "help":
		writeUsage(stdout)
	default:
		return usageError{fmt.Errorf("help: unknown command %q", args[0])}
	}
	return nil
}
