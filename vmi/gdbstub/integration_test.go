package gdbstub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
)

// These tests boot the bundled mini-NT guest under QEMU (TCG) and drive
// its real gdbstub. They skip when QEMU or the guest build is missing,
// unless FROST_REQUIRE_INTEGRATION is set (as `make test` does).

// guestDeadline bounds each wait on the guest; a deadline, not a timing
// assertion.
const guestDeadline = 3 * time.Minute

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	guesttest.Unavailable(tb, format, args...)
}

// guestDir returns integration/guest/out once QEMU and the guest exist.
func guestDir(tb testing.TB) string {
	tb.Helper()
	return guesttest.Dir(tb)
}

// boot starts mini-NT paused and stops it when the test ends.
func boot(tb testing.TB, cfg minint.Config) *minint.Machine {
	tb.Helper()
	cfg.Paused = true
	return guesttest.Boot(tb, cfg)
}

// dial connects a TCG client to the machine's gdbstub.
func dial(tb testing.TB, m *minint.Machine) *Client {
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

func testCtx(tb testing.TB) context.Context { return guesttest.Context(tb) }

func TestIntegrationHandshake(t *testing.T) {
	m := boot(t, minint.Config{Seed: minint.Seed(7)})
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

// guestRegisters maps the `call` line's keys to target.xml's names.
var guestRegisters = map[string]string{
	"rip": "rip", "cr3": "cr3", "gs-base": "gs_base", "k-gs-base": "k_gs_base", "efer": "efer",
}

// checkCall compares a breakpoint hit's registers with the guest's own
// view of the same call.
func checkCall(t *testing.T, regs *Registers, call minint.Event) {
	t.Helper()
	for key, name := range guestRegisters {
		want, err := call.Uint(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := regs.Uint(name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %#x at the breakpoint; the guest printed %s=%#x", name, got, key, want)
		}
	}
}

// testSeed fixes KASLR, so a breakpoint can go in before the kernel runs.
const testSeed = 7

// TestIntegrationBreakpoint: a Z0 on NtQueryValueKey, armed before the
// guest starts, hits with the registers the guest prints for that call;
// step-over moves on each time, and the guest reaches ready with the
// breakpoint armed throughout.
func TestIntegrationBreakpoint(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed)})
	c := dial(t, m)
	ctx := testCtx(t)
	if _, err := c.Attach(ctx); err != nil {
		t.Fatal(err)
	}
	bp := Breakpoint{Kind: Software, Addr: fn}
	if err := c.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	readyCtx, ready := context.WithCancel(ctx)
	var readyErr error
	go func() {
		_, readyErr = m.WaitEvent(ctx, "ready")
		ready()
	}()
	hits := 0
	var pending *Stop // a hit that Interrupt returned instead of a T02
	for {
		stop := pending
		pending = nil
		if stop == nil {
			if err := c.Continue(ctx); err != nil {
				t.Fatal(err)
			}
			var err error
			stop, err = c.Wait(readyCtx)
			if readyCtx.Err() != nil && ctx.Err() == nil {
				break // ready, and no hit pending
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if hits == 0 {
			checkBase(ctx, t, m, fn-publicRVA(t, "NtQueryValueKey"))
		}
		if stop.Registers == nil {
			t.Fatalf("%v without registers: %v", stop, stop.RegistersErr)
		}
		if rip, _ := stop.Registers.Uint("rip"); rip != fn {
			t.Fatalf("stopped at %#x (%v), want the breakpoint at %#x", rip, stop, fn)
		}
		hits++
		step, err := c.StepOver(ctx, stop.Thread, bp)
		if err != nil {
			t.Fatal(err)
		}
		if rip, _ := step.Registers.Uint("rip"); rip == fn {
			t.Fatalf("the step did not leave the breakpoint: %v", step)
		}
		if step.Thread != stop.Thread {
			t.Errorf("stepped %v, stopped on %v", stop.Thread, step.Thread)
		}
		// The guest prints its line for this call after the breakpoint:
		// let it run to the line, then compare.
		if err := c.Continue(ctx); err != nil {
			t.Fatal(err)
		}
		calls := waitCalls(ctx, t, m, hits)
		again, err := c.Interrupt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rip, _ := again.Registers.Uint("rip"); rip == fn {
			pending = again // the next call hit before the interrupt
		}
		if len(calls) != hits {
			t.Fatalf("%d call lines after %d hits: a call ran past the breakpoint", len(calls), hits)
		}
		checkCall(t, stop.Registers, calls[hits-1])
	}
	if readyErr != nil {
		t.Fatal(readyErr)
	}
	if hits == 0 {
		t.Fatal("the breakpoint never hit")
	}
	if n := len(callEvents(t, m)); n != hits {
		t.Errorf("the guest made %d calls, the breakpoint hit %d times", n, hits)
	}
	t.Logf("%d hits, each matching the guest's call line; the guest reached ready", hits)
	if err := c.Detach(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationTwoVCPUs: under -smp 2 the stub lists two threads, Hg+g
// reads each, and a step-over moves only the vCPU that hit.
func TestIntegrationTwoVCPUs(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), CPUs: 2})
	c := dial(t, m)
	ctx := testCtx(t)
	if _, err := c.Attach(ctx); err != nil {
		t.Fatal(err)
	}
	threads, err := c.Threads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 2 {
		t.Fatalf("threads %v, want 2 under -smp 2", threads)
	}
	bp := Breakpoint{Kind: Software, Addr: fn}
	if err := c.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(ctx); err != nil {
		t.Fatal(err)
	}
	stop, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != fn {
		t.Fatalf("stopped at %#x (%v), want the breakpoint at %#x", rip, stop, fn)
	}
	before := map[ThreadID]*Registers{}
	for _, th := range threads {
		regs, err := c.Registers(ctx, th)
		if err != nil {
			t.Fatalf("registers of %v: %v", th, err)
		}
		rip, _ := regs.Uint("rip")
		cr0, _ := regs.Uint("cr0")
		t.Logf("vCPU %v: rip %#x cr0 %#x", th, rip, cr0)
		before[th] = regs
	}
	if !bytes.Equal(before[stop.Thread].Raw(), stop.Registers.Raw()) {
		t.Error("Hg+g of the stopped vCPU differs from its stop snapshot")
	}
	if bytes.Equal(before[threads[0]].Raw(), before[threads[1]].Raw()) {
		t.Error("both vCPUs read the same registers: Hg did not select")
	}
	step, err := c.StepOver(ctx, stop.Thread, bp)
	if err != nil {
		t.Fatal(err)
	}
	srip, _ := step.Registers.Uint("rip")
	t.Logf("step: %v rip %#x", step, srip)
	if step.Thread != stop.Thread {
		t.Errorf("stepped %v, stopped on %v", stop.Thread, step.Thread)
	}
	for _, th := range threads {
		regs, err := c.Registers(ctx, th)
		if err != nil {
			t.Fatal(err)
		}
		rip, _ := regs.Uint("rip")
		was, _ := before[th].Uint("rip")
		switch {
		case th == stop.Thread && rip == was:
			t.Errorf("vCPU %v did not move in the step (rip %#x)", th, rip)
		case th != stop.Thread && !bytes.Equal(regs.Raw(), before[th].Raw()):
			t.Errorf("vCPU %v moved while %v stepped (rip %#x → %#x)", th, stop.Thread, was, rip)
		}
	}
	if err := c.RemoveBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	if err := c.Detach(ctx); err != nil {
		t.Fatal(err)
	}
}

// readRAMFile reads guest-physical memory from the shared RAM file (file
// offset = guest-physical address for low RAM).
func readRAMFile(t *testing.T, m *minint.Machine, addr uint64, n int) []byte {
	t.Helper()
	f, err := os.Open(m.RAMPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, int64(addr)); err != nil {
		t.Fatal(err)
	}
	return buf
}

// TestIntegrationPhysicalMemory: physical-mode reads equal the RAM file,
// the mode is restored afterwards, and writes in "M" chunks cut to the
// stub's PacketSize all get answered and land.
func TestIntegrationPhysicalMemory(t *testing.T) {
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed)})
	c := dial(t, m)
	ctx := testCtx(t)
	if _, err := c.Attach(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	system, err := m.WaitEvent(ctx, "process") // the first is System
	if err != nil {
		t.Fatal(err)
	}
	dtb, err := system.Uint("dtb")
	if err != nil {
		t.Fatal(err)
	}
	for _, span := range []struct {
		addr uint64
		n    int
	}{
		{dtb, 4096},     // one page: System's PML4
		{0, 0xa0000},    // 320 pipelined chunks: all RAM below the VGA hole
		{0x1ff01, 5000}, // unaligned, across chunk and page boundaries
	} {
		got := make([]byte, span.n)
		if n, err := c.ReadPhysical(ctx, span.addr, got); err != nil || n != span.n {
			t.Fatalf("ReadPhysical(%#x, %d) = %d, %v", span.addr, span.n, n, err)
		}
		if want := readRAMFile(t, m, span.addr, span.n); !bytes.Equal(got, want) {
			t.Errorf("physical read of %d bytes at %#x differs from the RAM file", span.n, span.addr)
		}
	}
	if phys, err := c.PhysicalMode(ctx); err != nil || phys {
		t.Errorf("memory mode after ReadPhysical: physical=%v, %v; want virtual again", phys, err)
	}

	// Write a pattern over 3 chunks' worth, check the RAM file, restore.
	const at, size = 0x200000, 3 * 2041
	orig := readRAMFile(t, m, at, size)
	pattern := make([]byte, size)
	for i := range pattern {
		pattern[i] = byte(i*7 + 1)
	}
	if n, err := c.WritePhysical(ctx, at, pattern); err != nil || n != size {
		t.Fatalf("WritePhysical = %d, %v", n, err)
	}
	if got := readRAMFile(t, m, at, size); !bytes.Equal(got, pattern) {
		t.Error("the RAM file does not hold what WritePhysical wrote")
	}
	if _, err := c.WritePhysical(ctx, at, orig); err != nil {
		t.Fatal(err)
	}
	if got := readRAMFile(t, m, at, size); !bytes.Equal(got, orig) {
		t.Error("restoring the original bytes failed")
	}

	// The largest "M" QEMU answers fits PacketSize-1; one byte more would
	// get no reply at all, so the client must refuse it unsent.
	if err := c.SetPhysicalMode(ctx, true); err != nil {
		t.Fatal(err)
	}
	fits := req("M%x,%x:%s", at, 2041, bytes.Repeat([]byte("00"), 2041))
	if err := c.exchange(ctx, fits); err != nil || checkOK(fits) != nil {
		t.Fatalf("largest M: %v %v", err, checkOK(fits))
	}
	tooBig := req("M%x,%x:%s", at, 2042, bytes.Repeat([]byte("00"), 2042))
	if err := c.exchange(ctx, tooBig); err != nil || !errors.Is(tooBig.err, ErrPacketTooLarge) {
		t.Fatalf("oversized M: %v / %v, want ErrPacketTooLarge", err, tooBig.err)
	}
	if err := c.SetPhysicalMode(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WritePhysical(ctx, at, orig[:2041]); err != nil {
		t.Fatal(err)
	}

	// The guest runs on after detach: writer keeps writing.
	writes := len(reportSoFar(t, m).All("write"))
	if err := c.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitSerial(ctx, func(string) bool { return len(reportSoFar(t, m).All("write")) > writes }); err != nil {
		t.Fatalf("the guest did not run on after Detach: %v", err)
	}
}
