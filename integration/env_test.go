package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
)

// bootDeadline bounds every wait for the guest. mini-NT reaches ready in
// about a second under TCG; the margin covers a loaded 2-core machine. It is
// a deadline, never a timing assertion.
const bootDeadline = 3 * time.Minute

// guestOut is the guest's build output, relative to this package.
func guestOut(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("guest", "out"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// unavailable skips the test, or fails it when FROST_REQUIRE_INTEGRATION is
// set, so that `make test` cannot go green without booting anything.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	guesttest.Unavailable(t, format, args...)
}

// requireTools checks for the programs a test runs.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	guesttest.RequireTools(t, tools...)
}

// requireGuest checks that QEMU and the built guest are there, and returns
// the guest's build directory.
// requireGuest checks that QEMU and the built guest are there, and returns
// the guest's build directory.
func requireGuest(t testing.TB) string {
	t.Helper()
	return guesttest.Dir(t)
}

// start boots mini-NT and stops it when the test ends.
func start(t testing.TB, cfg minint.Config) *minint.Machine {
	t.Helper()
	return guesttest.Boot(t, cfg)
}

// waitEvent waits for a report event within bootDeadline.
func waitEvent(t testing.TB, m *minint.Machine, name string) minint.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	e, err := m.WaitEvent(ctx, name)
	if err != nil {
		t.Fatalf("waiting for %q: %v\nserial log:\n%s", name, err, serialTail(m.SerialPath()))
	}
	return e
}

// report parses the serial report printed so far.
func report(t testing.TB, m *minint.Machine) minint.Report {
	t.Helper()
	rep, err := m.Report()
	if err != nil {
		t.Fatalf("serial report: %v", err)
	}
	return rep
}

// openDisk pauses the guest, ends QEMU (keeping its files) and opens the
// C: image, which then holds everything the guest wrote.
func openDisk(t testing.TB, m *minint.Machine) *disk.Volume {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if err := m.Pause(ctx); err != nil {
		t.Fatalf("pausing the guest: %v", err)
	}
	if err := m.Kill(); err != nil {
		t.Fatalf("ending QEMU: %v", err)
	}
	v, err := disk.Open(m.DiskPath())
	if err != nil {
		t.Fatalf("reading the C: image: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// serialTail returns the end of a serial log, for failure messages.
func serialTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = append([]byte("..."), b[len(b)-max:]...)
	}
	return string(b)
}

// uintField reads a numeric event field or fails the test.
func uintField(t testing.TB, e minint.Event, key string) uint64 {
	t.Helper()
	n, err := e.Uint(key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
