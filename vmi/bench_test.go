package vmi

import (
	"debug/pe"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// BenchmarkTargetCycle is one breakpoint hit handled end to end through
// the Target (Resume; the hit arrives on Events through the stop pump; a
// handler reads a register of its snapshot; StepOver), against the same
// cycle on a bare gdbstub.Client (Continue; Wait; StepOver): what the
// Target adds on top of the control plane. The breakpoint is the "out" to
// COM1 in KdWrite's loop, hit once per character the guest prints, so
// the protocol weighs most. The two take turns on the same guest in
// blocks of targetBlock cycles, each handing the guest over detached
// (breakpoint removed, D;1); each cycle is timed on its own, handovers
// are not. Metrics as in vmi/gdbstub's BenchmarkBreakpointCycle.
func BenchmarkTargetCycle(b *testing.B) {
	fn := kernelBase(b, testSeed) + firstInstruction(b, "KdWrite", "outb")
	m := boot(b, minint.Config{Seed: minint.Seed(testSeed), WriterPeriodMS: minint.WriterTightLoop, Paused: true})
	targetCycles(b, m, fn, 1) // the boot up to the first hit is no cycle
	b.ResetTimer()
	var tgt, client []time.Duration
	for done := 0; done < b.N; done += targetBlock {
		n := min(targetBlock, b.N-done)
		tgt = append(tgt, targetCycles(b, m, fn, n)...)
		client = append(client, clientCycles(b, m, fn, n)...)
	}
	tm, cm := mean(tgt), mean(client)
	tmed, cmed := median(tgt), median(client)
	b.ReportMetric(tm, "target-ns/cycle")
	b.ReportMetric(cm, "client-ns/cycle")
	b.ReportMetric(tmed, "target-median-ns")
	b.ReportMetric(cmed, "client-median-ns")
	b.ReportMetric(100*cm/tm, "client-rate%")
	b.ReportMetric(100*cmed/tmed, "client-rate-median%")
}

// targetBlock is how many cycles one side runs before handing over.
const targetBlock = 10

func targetCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	ctx := testCtx(b)
	tg, err := OpenQEMU(ctx, m.Machine, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close(ctx)
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	var sink uint64
	took := make([]time.Duration, 0, n)
	b.StartTimer()
	for range n {
		start := time.Now()
		if err := tg.Resume(ctx); err != nil {
			b.Fatal(err)
		}
		e := nextEvent(ctx, b, tg)
		if e.Kind != EventStop || rip(b, e.Stop.Registers) != fn {
			b.Fatalf("event %v %v, want a hit at %#x", e.Kind, e.Stop, fn)
		}
		rcx, err := e.Stop.Registers.Uint("rcx") // the handler
		if err != nil {
			b.Fatal(err)
		}
		sink += rcx
		if _, err := tg.StepOver(ctx, e.Stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	if err := tg.RemoveBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	_ = sink
	return took
}

// clientCycles is targetCycles on a bare gdbstub.Client.
func clientCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	ctx := testCtx(b)
	caps, _ := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	network, addr := m.GDBAddr()
	c, err := gdbstub.Dial(ctx, network, addr, gdbstub.Config{Capabilities: caps})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Detach(ctx)
	if _, err := c.Attach(ctx); err != nil {
		b.Fatal(err)
	}
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := c.InsertBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	var sink uint64
	took := make([]time.Duration, 0, n)
	b.StartTimer()
	for range n {
		start := time.Now()
		if err := c.Continue(ctx); err != nil {
			b.Fatal(err)
		}
		stop, err := c.Wait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rip(b, stop.Registers) != fn {
			b.Fatalf("stop %v, want a hit at %#x", stop, fn)
		}
		rcx, err := stop.Registers.Uint("rcx")
		if err != nil {
			b.Fatal(err)
		}
		sink += rcx
		if _, err := c.StepOver(ctx, stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	if err := c.RemoveBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	_ = sink
	return took
}

func mean(d []time.Duration) float64 {
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return float64(sum.Nanoseconds()) / float64(len(d))
}

func median(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds())
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
