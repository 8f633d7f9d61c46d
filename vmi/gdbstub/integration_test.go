package gdbstub

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi/qemu"
)

// These tests boot the bundled mini-NT guest under QEMU (TCG) and drive
// its real gdbstub. They skip when QEMU or the guest build is missing,
// unless FROST_REQUIRE_INTEGRATION is set (as `make test` does).

// guestDeadline bounds each wait on the guest; a deadline, not a timing
// assertion.
const guestDeadline = 3 * time.Minute

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
		tb.Fatalf("FROST_REQUIRE_INTEGRATION is set, but: "+format, args...)
	}
	tb.Skipf("skipping: "+format+" (set FROST_REQUIRE_INTEGRATION=1 to make this a failure)", args...)
}

// guestDir returns integration/guest/out once QEMU and the guest exist.
func guestDir(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		unavailable(tb, "qemu-system-x86_64 not found (run `make deps`)")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "integration", "guest", "out"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"winload.elf", "ntoskrnl.exe", "hal.dll", "ntkrnlmp.pdb", "smss.exe", "csrss.exe", "writer.exe", "swapper.exe", "frostimg.dll"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			unavailable(tb, "the guest is not built: %v (run `make guest`)", err)
		}
	}
	return dir
}

// boot starts mini-NT paused and stops it when the test ends.
func boot(tb testing.TB, cfg qemu.Config) *qemu.Machine {
	tb.Helper()
	if cfg.GuestDir == "" {
		cfg.GuestDir = guestDir(tb)
	}
	cfg.Paused = true
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	defer cancel()
	m, err := qemu.Start(ctx, cfg)
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

// dial connects a TCG client to the machine's gdbstub.
func dial(tb testing.TB, m *qemu.Machine) *Client {
	tb.Helper()
	caps, err := CapabilitiesFor(AccelTCG, false)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	defer cancel()
	network, addr := m.GDBAddr()
	c, err := Dial(ctx, network, addr, Config{Capabilities: caps})
	if err != nil {
		tb.Fatalf("dialing the gdbstub: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	tb.Cleanup(cancel)
	return ctx
}

func TestIntegrationHandshake(t *testing.T) {
	m := boot(t, qemu.Config{Seed: qemu.Seed(7)})
	c := dial(t, m)
	ctx := testCtx(t)
	if c.PacketSize() != 0x1000 {
		t.Errorf("PacketSize = %#x, want 0x1000 (QEMU 7.2)", c.PacketSize())
	}
	rm := c.RegisterMap()
	if rm == nil || rm.Size() != 608 {
		t.Fatalf("register map %v: want a 608-byte g packet", rm)
	}
	for _, name := range []string{"rip", "cr3", "fs_base", "gs_base", "k_gs_base", "cr0", "cr8", "efer"} {
		if _, ok := rm.Lookup(name); !ok {
			t.Errorf("target.xml has no %s", name)
		}
	}
	stop, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attach: %v thread %v", stop, stop.Thread)
	if stop.Registers == nil {
		t.Fatalf("stop without registers: %v", stop.RegistersErr)
	}
	rip, _ := stop.Registers.Uint("rip")
	p, err := c.ReadRegister(ctx, stop.Thread, "rip")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rip from g %#x, p %x", rip, p)
}
