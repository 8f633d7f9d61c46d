package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets this test binary be the guard that an in-process frostd
// (run) starts from os.Executable(): `frostd.test guard ...` runs the
// guard, as `frostd guard ...` does, instead of the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "guard" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(runGuard(ctx, os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}
