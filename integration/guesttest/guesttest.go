// Package guesttest is what every package's integration tests need to boot
// the bundled mini-NT: find its build, skip or fail when something is
// missing, start it under the machine-wide TCG lock and stop it afterwards.
// It is test support, imported only by _test files.
//
// A test that cannot run skips, unless FROST_REQUIRE_INTEGRATION is set (as
// `make test` does): then it fails, so CI cannot go green by booting
// nothing.
package guesttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
)

// Deadline bounds each wait on the guest. mini-NT reaches ready in a few
// seconds under TCG; the margin covers a loaded 2-core machine and a wait
// for the TCG lock. It is a deadline, never a timing assertion.
const Deadline = 3 * time.Minute

// Unavailable skips the test, or fails it under FROST_REQUIRE_INTEGRATION.
// Under -short it always skips: -short asks for no boots, so a skip there
// is what the caller wanted, not something CI could hide behind.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" && !testing.Short() {
		tb.Fatalf("FROST_REQUIRE_INTEGRATION is set, but: "+format, args...)
	}
	tb.Skipf("skipping: "+format+" (set FROST_REQUIRE_INTEGRATION=1 to make this a failure)", args...)
}

// SkipShort skips a test that boots a guest or starts libvirt or QEMU
// when it runs under -short (the inner loop). Tests that boot without Dir,
// Boot or RequireTools call it themselves.
func SkipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping: boots a guest or starts QEMU/libvirt, and -short is set")
	}
}

// RequireTools checks for the programs a test runs. Every caller runs
// QEMU or libvirt, so -short skips here too.
func RequireTools(tb testing.TB, tools ...string) {
	tb.Helper()
	SkipShort(tb)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(tb, "%s not found (run `make deps`)", tool)
		}
	}
}

// Dir returns the guest's build output (integration/guest/out) once QEMU
// and every file a boot loads exist, the variant kernels included.
func Dir(tb testing.TB) string {
	tb.Helper()
	RequireTools(tb, "qemu-system-x86_64")
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, "integration", "guest", "out")
	for _, f := range append([]string{"winload.elf", "ntoskrnl.exe", "hal.dll", "ntkrnlmp.pdb",
		"reorder/ntoskrnl.exe", "reorder/ntkrnlmp.pdb", "assign/ntoskrnl.exe", "assign/ntkrnlmp.pdb"}, disk.StandardExecutables...) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			Unavailable(tb, "the guest is not built: %v (run `make guest`)", err)
		}
	}
	return dir
}

// moduleRoot finds the directory holding go.mod, upwards from where the
// test runs (its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("guesttest: no go.mod above %s", dir)
		}
	}
}

// Context is a context bounded by Deadline, cancelled when the test ends.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	tb.Cleanup(cancel)
	return ctx
}

// Boot starts mini-NT (GuestDir defaults to Dir) and stops it, removing
// its files, when the test ends.
func Boot(tb testing.TB, cfg minint.Config) *minint.Machine {
	tb.Helper()
	SkipShort(tb)
	if cfg.GuestDir == "" {
		cfg.GuestDir = Dir(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	m, err := minint.Start(ctx, cfg)
	if err != nil {
		tb.Fatalf("starting mini-NT: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Stop(); err != nil {
			tb.Errorf("stopping mini-NT: %v", err)
		}
	})
	return m
}
