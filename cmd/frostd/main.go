// Command frostd is Frost's daemon: it serves the gRPC API of
// proto/frost/v1 (VMs, boot, CPU, memory, processes, symbols, breakpoints,
// monitors) to frostctl and to programs.
//
// It listens on a unix socket (mode 0600) by default. TCP is served only
// with TLS and a client CA (mutual TLS); server-only TLS needs
// --tcp-insecure-any-client. Writes to guest memory and registers are off
// unless --allow-write. On SIGINT, SIGTERM or SIGHUP every held VM is let
// go: breakpoints removed, guest resumed, gdbstub detached (SIGHUP reloads
// nothing: a closing terminal or a stray reload must never kill frostd
// without letting the guests go). If frostd dies without that (SIGKILL,
// the OOM killer, SIGQUIT's goroutine dump), its guard lets them go:
// `frostd guard`, which frostd starts when none answers.
//
// This file is flags → wiring; the handlers are package api's.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// shutdownSignals all let the guests go before frostd exits.
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), shutdownSignals...)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// run is main without the process: tests call it with their own context,
// and ready (if not nil) hears the listening address once serving starts.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	if len(args) > 0 && args[0] == "guard" {
		return runGuard(ctx, args[1:], stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(stderr, "frostd:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	if err := serve(ctx, cfg, log, ready); err != nil {
		log.Error("frostd stopped", "error", err)
		return 1
	}
	return 0
}
