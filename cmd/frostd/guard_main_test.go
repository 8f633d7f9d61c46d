package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// frostdMainEnv makes this test binary run frostd's main.
const frostdMainEnv = "FROSTD_TEST_MAIN"

// TestMain lets this test binary be the guard that an in-process frostd
// (run) starts from os.Executable(): `frostd.test guard ...` runs the
// guard, as `frostd guard ...` does, instead of the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "guard" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(runGuard(ctx, os.Args[2:], os.Stderr))
	}
	// frostd itself, signals and all, for the signal tests.
	if os.Getenv(frostdMainEnv) == "1" {
		os.Args = append(os.Args[:1], os.Args[2:]...) // drop the "frostd" marker
		main()
	}
	os.Exit(m.Run())
}
