package gdbstub

import (
	"bytes"
	"context"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// Helpers that read what the bundled guest says about itself: its serial
// report and its PDB. Nothing here hard-codes an address or offset.

// publicRecord matches an S_PUB32 record of `llvm-pdbutil dump -publics`
// and the "addr = SSSS:OOOO" line after it (both decimal).
var publicRecord = regexp.MustCompile("S_PUB32 \\[size = \\d+\\] `([^`]+)`\\s+flags = [^,]+, addr = (\\d+):(\\d+)")

// publicRVA finds a kernel public symbol's RVA: llvm-pdbutil gives its
// section:offset, and the kernel image's section headers give the
// section's virtual address.
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

// reportSoFar parses the serial report up to the last complete line:
// Machine.Report also parses a line the running guest is still printing,
// and fails on it.
func reportSoFar(tb testing.TB, m *minint.Machine) minint.Report {
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

// callEvents returns the guest's `call` report lines so far.
func callEvents(tb testing.TB, m *minint.Machine) []minint.Event {
	tb.Helper()
	return reportSoFar(tb, m).All("call")
}

// waitCalls waits until the guest has printed n `call` lines.
func waitCalls(ctx context.Context, tb testing.TB, m *minint.Machine, n int) []minint.Event {
	tb.Helper()
	seen := 0
	_, err := m.WaitSerial(ctx, func(line string) bool {
		e, ok, err := minint.ParseLine(line)
		if ok && err == nil && e.Name == "call" {
			seen++
		}
		return seen >= n
	})
	if err != nil {
		tb.Fatalf("waiting for %d call lines: %v", n, err)
	}
	return callEvents(tb, m)
}

var (
	basesMu sync.Mutex
	bases   = map[uint64]uint64{} // KASLR seed → kernel base
)

// kernelBase learns where the kernel lands for seed by booting the guest
// once until its `kernel` report line. The base is a pure function of the
// seed, so a second boot with the same seed can have breakpoints in place
// before its first instruction: under TCG a Z0 is kept by QEMU, not
// written to memory, so it may name an address nothing maps yet.
func kernelBase(tb testing.TB, seed uint64) uint64 {
	tb.Helper()
	basesMu.Lock()
	defer basesMu.Unlock()
	if b, ok := bases[seed]; ok {
		return b
	}
	m := boot(tb, minint.Config{Seed: minint.Seed(seed)})
	ctx := testCtx(tb)
	if err := m.Resume(ctx); err != nil {
		tb.Fatal(err)
	}
	ev, err := m.WaitEvent(ctx, "kernel")
	if err != nil {
		tb.Fatalf("waiting for the kernel event: %v", err)
	}
	b, err := ev.Uint("base")
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Stop(); err != nil { // frees the TCG lock for the real boot
		tb.Fatal(err)
	}
	bases[seed] = b
	return b
}

// checkBase makes sure the guest put its kernel where kernelBase said.
func checkBase(ctx context.Context, tb testing.TB, m *minint.Machine, want uint64) {
	tb.Helper()
	ev, err := m.WaitEvent(ctx, "kernel")
	if err != nil {
		tb.Fatalf("waiting for the kernel event: %v", err)
	}
	if got, err := ev.Uint("base"); err != nil || got != want {
		tb.Fatalf("kernel base %#x (%v), want %#x as in the first boot with this seed", got, err, want)
	}
}

// objdumpLine matches an instruction line of llvm-objdump --no-show-raw-insn.
var objdumpLine = regexp.MustCompile(`(?m)^\s*([0-9a-f]+):\s+(\S+)`)

// firstInstruction disassembles the kernel from the public function fn
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
	start := oh.ImageBase + publicRVA(tb, fn)
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
