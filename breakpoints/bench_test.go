package breakpoints_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// BenchmarkManagerCycle is one breakpoint hit on nt!NtWriteFile (writer.exe
// in a tight loop) handled end to end through the manager and the real
// vmi.Target: the stop with its register snapshot, the event loop's
// dispatch, the filter, a handler on its own goroutine reading a register,
// step-over and resume. "raw" is the same cycle by hand on a bare
// gdbstub.Client (continue, wait for the hit, read the register,
// step-over), as in vmi/gdbstub's BenchmarkBreakpointCycle.
//
// The guest's own time between hits varies with its state, so the two
// take turns on the same guest in blocks of benchBlock cycles: the
// manager's block opens a vmi.Target and closes it (detach), the raw
// block dials the stub itself. Handovers are not timed. A manager cycle
// is the time from one handler entry to the next, which spans the same
// work as a raw cycle. Metrics: each side's mean and median per cycle and
// the manager's rate as a share of raw's (raw time / manager time), from
// the means and from the medians.
func BenchmarkManagerCycle(b *testing.B) {
	for _, target := range cycleTargets {
		b.Run(target.name, func(b *testing.B) { benchCycle(b, target.rva(b)) })
	}
}

// cycleTargets are where the breakpoint goes, as in vmi/gdbstub's
// benchmark:
//   - serial-out: the "out" to COM1 in KdWrite's loop, hit once per
//     character the guest prints, a few instructions apart, so the
//     protocol and Frost's own work weigh most;
//   - NtWriteFile: writer.exe's system call, with disk I/O and a serial
//     line between hits, so the guest's own work weighs most.
var cycleTargets = []struct {
	name string
	rva  func(b *testing.B) uint64
}{
	{"serial-out", func(b *testing.B) uint64 { return firstInstruction(b, "KdWrite", "outb") }},
	{"NtWriteFile", func(b *testing.B) uint64 { return kernelRVA(b, "NtWriteFile") }},
}

func benchCycle(b *testing.B, rva uint64) {
	dir := guestDir(b)
	cfg := minint.Config{GuestDir: dir, Seed: minint.Seed(7), WriterPeriodMS: minint.WriterTightLoop, Paused: true}
	m, err := minint.Start(lockCtx(b), cfg)
	if err != nil {
		b.Fatalf("starting mini-NT: %v", err)
	}
	b.Cleanup(func() { m.Stop() })
	ctx := guestCtx(b)
	// Boot to writer's first write with no breakpoint; the kernel line
	// gives the base.
	if err := m.Resume(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "write"); err != nil {
		b.Fatal(err)
	}
	kernel, err := m.WaitEvent(ctx, "kernel")
	if err != nil {
		b.Fatal(err)
	}
	base, err := kernel.Uint("base")
	if err != nil {
		b.Fatal(err)
	}
	fn := base + rva
	b.ResetTimer()
	var mgr, tgt, raw []time.Duration
	for done := 0; done < b.N; done += benchBlock {
		n := min(benchBlock, b.N-done)
		mgr = append(mgr, managerCycles(b, m, fn, n)...)
		tgt = append(tgt, targetCycles(b, m, fn, n)...)
		raw = append(raw, rawCycles(b, m, fn, n)...)
	}
	mm, tm, rm := mean(mgr), mean(tgt), mean(raw)
	mmed, tmed, rmed := median(mgr), median(tgt), median(raw)
	b.ReportMetric(mm, "manager-ns/cycle")
	b.ReportMetric(tm, "target-ns/cycle")
	b.ReportMetric(rm, "raw-ns/cycle")
	b.ReportMetric(mmed, "manager-median-ns")
	b.ReportMetric(tmed, "target-median-ns")
	b.ReportMetric(rmed, "raw-median-ns")
	b.ReportMetric(100*rm/mm, "raw-rate%")
	b.ReportMetric(100*rmed/mmed, "raw-rate-median%")
	b.ReportMetric(100*tmed/mmed, "target-rate-median%")
}

const benchBlock = 25

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

// managerCycles opens the guest through vmi and a manager, times n
// cycles (n+1 handler entries), and closes both: the breakpoint removed,
// the stub detached, the guest running.
func managerCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	ctx := guestCtx(b)
	tg, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close(ctx)
	mgr, err := breakpoints.New(tg, breakpoints.Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.Close(ctx)
	var mu sync.Mutex
	entries := make([]time.Time, 0, n+1)
	full := make(chan struct{})
	var sink uint64
	if _, err := mgr.Add(ctx, breakpoints.Spec{Addr: fn, Handler: func(_ context.Context, f *breakpoints.Frame) error {
		now := time.Now()
		rcx, err := f.Regs.Uint("rcx")
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		sink += rcx
		if len(entries) <= n {
			entries = append(entries, now)
			if len(entries) == n+1 {
				close(full)
			}
		}
		return nil
	}}); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	if err := mgr.Resume(ctx); err != nil { // the attach stopped the guest
		b.Fatal(err)
	}
	select {
	case <-full:
	case <-ctx.Done():
		b.Fatal("the manager's cycles did not finish")
	}
	b.StopTimer()
	if err := mgr.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if err := tg.Close(ctx); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, n)
	for i := range took {
		took[i] = entries[i+1].Sub(entries[i])
	}
	return took
}

// targetCycles is the cycle by hand on the vmi.Target, with no manager:
// what the Target itself costs over the bare client, so that the
// manager's own share can be told apart.
func targetCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	ctx := guestCtx(b)
	tg, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close(ctx)
	bp := vmi.Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	var sink uint64
	took := make([]time.Duration, 0, n)
	for i := 0; i <= n; i++ {
		if i > 0 {
			b.StartTimer()
		}
		start := time.Now()
		if err := tg.Resume(ctx); err != nil {
			b.Fatal(err)
		}
		var ev vmi.Event
		select {
		case ev = <-tg.Events():
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		}
		if ev.Kind != vmi.EventStop || ev.Stop == nil || ev.Stop.Registers == nil {
			b.Fatalf("event %+v, want a hit", ev)
		}
		rcx, err := ev.Stop.Registers.Uint("rcx")
		if err != nil {
			b.Fatal(err)
		}
		sink += rcx
		if _, err := tg.StepOver(ctx, ev.Stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			took = append(took, time.Since(start))
		}
		b.StopTimer()
	}
	if err := tg.RemoveBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	if err := tg.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return took
}

// rawCycles is the cycle on a bare gdbstub client; it leaves the guest
// running and the stub detached.
func rawCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	ctx := guestCtx(b)
	caps, err := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	if err != nil {
		b.Fatal(err)
	}
	network, addr := m.GDBAddr()
	c, err := gdbstub.Dial(ctx, network, addr, gdbstub.Config{Capabilities: caps})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Attach(ctx); err != nil {
		b.Fatal(err)
	}
	bp := gdbstub.Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := c.InsertBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	var sink uint64
	took := make([]time.Duration, 0, n)
	// The first hit after the attach is not a cycle, as on the manager's
	// side.
	for i := 0; i <= n; i++ {
		if i > 0 {
			b.StartTimer()
		}
		start := time.Now()
		if err := c.Continue(ctx); err != nil {
			b.Fatal(err)
		}
		stop, err := c.Wait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rip, _ := stop.Registers.Uint("rip"); rip != fn || stop.Signal != gdbstub.SignalTrap {
			b.Fatalf("stop %v at %#x, want a hit at %#x", stop, rip, fn)
		}
		rcx, err := stop.Registers.Uint("rcx")
		if err != nil {
			b.Fatal(err)
		}
		sink += rcx
		if _, err := c.StepOver(ctx, stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			took = append(took, time.Since(start))
		}
		b.StopTimer()
	}
	if err := c.Detach(ctx); err != nil {
		b.Fatal(err)
	}
	return took
}
