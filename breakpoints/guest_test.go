package breakpoints_test

import (
	"bytes"
	"context"
	"debug/pe"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/symbols/pdb"
	"github.com/frostvmi/frost/vmi"
)

// Helpers for the tests on the bundled mini-NT guest under QEMU (TCG),
// through the real vmi.Target. They skip when QEMU or the guest build is
// missing, unless FROST_REQUIRE_INTEGRATION is set (as `make test` does).
// Addresses come from the guest's serial report and its PDB, never from
// here.

// guestDeadline bounds each wait on the guest; a deadline, not a timing
// assertion.
const guestDeadline = 3 * time.Minute

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	guesttest.Unavailable(tb, format, args...)
}

func guestDir(tb testing.TB) string {
	tb.Helper()
	return guesttest.Dir(tb)
}

// lockDeadline bounds a boot's wait for the machine-wide TCG lock: other
// engineers' suites hold it for minutes at a time.
const lockDeadline = 30 * time.Minute

// lockCtx is for minint.Start, whose first step is the wait for the lock.
func lockCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), lockDeadline)
	tb.Cleanup(cancel)
	return ctx
}

func guestCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	tb.Cleanup(cancel)
	return ctx
}

// kernelRVA is a kernel symbol's RVA from the guest's own PDB.
func kernelRVA(tb testing.TB, name string) uint64 {
	tb.Helper()
	tab, err := pdb.Open(filepath.Join(guestDir(tb), "ntkrnlmp.pdb"))
	if err != nil {
		tb.Fatal(err)
	}
	rva, err := tab.Address(name)
	if err != nil {
		tb.Fatal(err)
	}
	return rva
}

// bootTarget boots mini-NT paused, opens it through vmi.OpenQEMU (which
// leaves it stopped), and tears both down when the test ends.
func bootTarget(tb testing.TB, cfg minint.Config) (*minint.Machine, vmi.Target) {
	tb.Helper()
	cfg.GuestDir = guestDir(tb)
	cfg.Paused = true
	m, err := minint.Start(lockCtx(tb), cfg)
	if err != nil {
		tb.Fatalf("starting mini-NT: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Stop(); err != nil {
			tb.Errorf("stopping mini-NT: %v", err)
		}
	})
	tg, err := vmi.OpenQEMU(guestCtx(tb), m.Machine, vmi.Options{})
	if err != nil {
		tb.Fatalf("OpenQEMU: %v", err)
	}
	tb.Cleanup(func() { tg.Close(context.Background()) })
	return m, tg
}

// serialCount counts report lines of one event printed so far, the line
// being printed now included: with the guest stopped, that call has
// already passed its first instruction.
func serialCount(tb testing.TB, m *minint.Machine, event string) int {
	tb.Helper()
	data, err := os.ReadFile(m.SerialPath())
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Count(data, []byte(minint.ReportPrefix+event+" "))
}

// completeReport parses the report up to the last complete line.
func completeReport(tb testing.TB, m *minint.Machine) minint.Report {
	tb.Helper()
	data, err := os.ReadFile(m.SerialPath())
	if err != nil {
		tb.Fatal(err)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	rep, err := minint.ParseReport(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// testLogger sends slog output to the test log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// objdumpLine matches an instruction line of llvm-objdump --no-show-raw-insn.
var objdumpLine = regexp.MustCompile(`(?m)^\s*([0-9a-f]+):\s+(\S+)`)

// firstInstruction disassembles the kernel image from the function fn
// and returns the RVA of its first instruction with the given mnemonic.
func firstInstruction(tb testing.TB, fn, mnemonic string) uint64 {
	tb.Helper()
	if _, err := exec.LookPath("llvm-objdump"); err != nil {
		unavailable(tb, "llvm-objdump not found (run `make deps`)")
	}
	image := filepath.Join(guestDir(tb), "ntoskrnl.exe")
	f, err := pe.Open(image)
	if err != nil {
		tb.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	f.Close()
	if !ok {
		tb.Fatal("ntoskrnl.exe is not PE32+")
	}
	start := oh.ImageBase + kernelRVA(tb, fn)
	out, err := exec.Command("llvm-objdump", "-d", "--no-show-raw-insn",
		"--start-address="+strconv.FormatUint(start, 10), "--stop-address="+strconv.FormatUint(start+256, 10), image).Output()
	if err != nil {
		tb.Fatalf("llvm-objdump: %v", err)
	}
	for _, m := range objdumpLine.FindAllStringSubmatch(string(out), -1) {
		if m[2] == mnemonic {
			va, _ := strconv.ParseUint(m[1], 16, 64)
			return va - oh.ImageBase
		}
	}
	tb.Fatalf("no %s in the first 256 bytes of %s", mnemonic, fn)
	return 0
}
