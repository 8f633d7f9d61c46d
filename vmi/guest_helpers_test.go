package vmi

import (
	"context"
	"debug/pe"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
)

// Integration tests boot the bundled mini-NT under QEMU (TCG). They skip
// when QEMU or the guest build is missing, unless FROST_REQUIRE_INTEGRATION
// is set (as `make test` does). Nothing here hard-codes an address: the
// guest's serial report and its PDB say where things are.

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	guesttest.Unavailable(tb, format, args...)
}

// guestDir returns integration/guest/out once QEMU and the guest exist.
func guestDir(tb testing.TB) string {
	tb.Helper()
	return guesttest.Dir(tb)
}

func testCtx(tb testing.TB) context.Context { return guesttest.Context(tb) }

// boot starts mini-NT and stops it when the test ends.
func boot(tb testing.TB, cfg minint.Config) *minint.Machine {
	tb.Helper()
	if cfg.GuestDir == "" {
		cfg.GuestDir = guestDir(tb)
	}
	m, err := minint.Start(testCtx(tb), cfg)
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

// bootReady boots mini-NT running and waits for its ready line.
func bootReady(tb testing.TB, cfg minint.Config) *minint.Machine {
	tb.Helper()
	m := boot(tb, cfg)
	if _, err := m.WaitEvent(testCtx(tb), "ready"); err != nil {
		tb.Fatalf("waiting for ready: %v", err)
	}
	return m
}

// openTarget opens m through OpenQEMU and closes it when the test ends
// (unless the test closed it itself).
func openTarget(tb testing.TB, m *minint.Machine) *guest {
	tb.Helper()
	tg, err := OpenQEMU(testCtx(tb), m.Machine, Options{})
	if err != nil {
		tb.Fatalf("OpenQEMU: %v", err)
	}
	tb.Cleanup(func() { tg.Close(context.Background()) })
	return tg.(*guest)
}

// nextEvent returns the next event, failing the test at ctx's end.
func nextEvent(ctx context.Context, tb testing.TB, tg Target) Event {
	tb.Helper()
	select {
	case e, ok := <-tg.Events():
		if !ok {
			tb.Fatal("Events closed")
		}
		return e
	case <-ctx.Done():
		tb.Fatalf("no event: %v", context.Cause(ctx))
	}
	return Event{}
}

// publicRecord matches an S_PUB32 record of `llvm-pdbutil dump -publics`
// and the "addr = SSSS:OOOO" line after it (both decimal).
var publicRecord = regexp.MustCompile("S_PUB32 \\[size = \\d+\\] `([^`]+)`\\s+flags = [^,]+, addr = (\\d+):(\\d+)")

// publicRVA finds a kernel public symbol's RVA: llvm-pdbutil gives its
// section:offset, the kernel image's section headers the section's RVA.
func publicRVA(tb testing.TB, name string) uint64 {
	tb.Helper()
	dir := guestDir(tb)
	if _, err := exec.LookPath("llvm-pdbutil"); err != nil {
		unavailable(tb, "llvm-pdbutil not found (run `make deps`)")
	}
	out, err := exec.Command("llvm-pdbutil", "dump", "-publics", filepath.Join(dir, "ntkrnlmp.pdb")).Output()
	if err != nil {
		tb.Fatalf("llvm-pdbutil dump -publics: %v", err)
	}
	f, err := pe.Open(filepath.Join(dir, "ntoskrnl.exe"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	for _, m := range publicRecord.FindAllSubmatch(out, -1) {
		if string(m[1]) != name {
			continue
		}
		sect, _ := strconv.Atoi(string(m[2]))
		off, _ := strconv.ParseUint(string(m[3]), 10, 64)
		if sect < 1 || sect > len(f.Sections) {
			tb.Fatalf("%s is in section %d; the image has %d", name, sect, len(f.Sections))
		}
		return uint64(f.Sections[sect-1].VirtualAddress) + off
	}
	tb.Fatalf("ntkrnlmp.pdb has no public %s", name)
	return 0
}

// testSeed fixes KASLR, so a breakpoint can go in before the kernel runs.
const testSeed = 7

var (
	basesMu sync.Mutex
	bases   = map[uint64]uint64{} // KASLR seed → kernel base
)

// kernelBase learns where the kernel lands for seed by booting the guest
// once until its `kernel` report line: the base is a pure function of the
// seed, and under TCG a Z0 is kept by QEMU, not written to memory, so it
// may name an address nothing maps yet.
func kernelBase(tb testing.TB, seed uint64) uint64 {
	tb.Helper()
	basesMu.Lock()
	defer basesMu.Unlock()
	if b, ok := bases[seed]; ok {
		return b
	}
	m, err := minint.Start(testCtx(tb), minint.Config{GuestDir: guestDir(tb), Seed: minint.Seed(seed)})
	if err != nil {
		tb.Fatalf("starting mini-NT: %v", err)
	}
	defer m.Stop() // frees the TCG lock for the real boot
	ev, err := m.WaitEvent(testCtx(tb), "kernel")
	if err != nil {
		tb.Fatalf("waiting for the kernel event: %v", err)
	}
	b, err := ev.Uint("base")
	if err != nil {
		tb.Fatal(err)
	}
	bases[seed] = b
	return b
}

// report is the serial report so far (complete lines only).
func report(tb testing.TB, m *minint.Machine) minint.Report {
	tb.Helper()
	rep, err := m.Report()
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// waitCount waits until the guest has printed n `name` lines.
func waitCount(ctx context.Context, tb testing.TB, m *minint.Machine, name string, n int) {
	tb.Helper()
	seen := 0
	_, err := m.WaitSerial(ctx, func(line string) bool {
		if e, ok, err := minint.ParseLine(line); ok && err == nil && e.Name == name {
			seen++
		}
		return seen >= n
	})
	if err != nil {
		tb.Fatalf("waiting for %d %s lines: %v", n, name, err)
	}
}

// guestRegisters maps the `call` line's keys to target.xml's names.
var guestRegisters = map[string]string{
	"rip": "rip", "cr3": "cr3", "gs-base": "gs_base", "k-gs-base": "k_gs_base", "efer": "efer",
}

// checkCall compares a breakpoint hit's registers with the guest's own
// view of the same call.
func checkCall(tb testing.TB, regs *Registers, call minint.Event) {
	tb.Helper()
	for key, name := range guestRegisters {
		want, err := call.Uint(key)
		if err != nil {
			tb.Fatal(err)
		}
		got, err := regs.Uint(name)
		if err != nil {
			tb.Fatal(err)
		}
		if got != want {
			tb.Errorf("%s = %#x at the breakpoint; the guest printed %s=%#x", name, got, key, want)
		}
	}
}

func rip(tb testing.TB, regs *Registers) uint64 {
	tb.Helper()
	if regs == nil {
		tb.Fatal("no registers")
	}
	v, err := regs.Uint("rip")
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
