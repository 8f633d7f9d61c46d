package integration

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/winboot"
)

// Issue 7's benchmarks. Run them alone, with nothing else booting guests:
//
//	go test -run '^$' -bench 'WinbootBoot|NtWriteFileMonitor' -benchtime 5x ./integration/

// BenchmarkWinbootBoot times boots to `ready`, with and without winboot,
// alternating so both see the same machine load, and reports the ratio.
// With a paging file configured, winboot also spares the guest all its
// paging I/O; with none, the ratio is winboot's own cost (polling for the
// kernel, two breakpoints, reading image sections whole).
func BenchmarkWinbootBoot(b *testing.B) {
	requireGuest(b)
	for _, c := range []struct {
		name  string
		files []string
		// plainOptions are the plain boot's LoadOptions: "MININT INRAM"
		// gives it the state winboot produces, so the ratio is winboot's
		// own cost and not the effect of its policy on the guest.
		plainOptions string
	}{
		{"pagefile", []string{pagefile}, ""},
		{"no-pagefile", nil, ""},
		{"no-pagefile/plain-INRAM", nil, "MININT INRAM"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var plain, wb time.Duration
			for i := 0; i < b.N; i++ {
				cfg := minint.Config{GuestDir: guestOut(b), Seed: minint.Seed(uint64(200 + i)), PagingFiles: c.files}
				wb += timeBoot(b, cfg, true)
				cfg.LoadOptions = c.plainOptions
				plain += timeBoot(b, cfg, false)
			}
			b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain-ms/boot")
			b.ReportMetric(float64(wb.Milliseconds())/float64(b.N), "winboot-ms/boot")
			b.ReportMetric(float64(wb)/float64(plain), "winboot/plain")
		})
	}
}

// timeBoot measures one boot from QEMU's start to the guest's `ready`, and
// tears it down before the next (one TCG guest at a time).
func timeBoot(b *testing.B, cfg minint.Config, withWinboot bool) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	cfg.Paused = withWinboot
	m, err := minint.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Stop()
	// From here: Start may have waited for the machine-wide TCG lock.
	// QEMU itself starts in a few milliseconds, and the held guest has not
	// run yet.
	began := time.Now()
	if withWinboot {
		c, release, err := takeCharge(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		defer release()
		st := guestSymbols(b, cfg.GuestDir)
		rep, err := winboot.Run(ctx, c.tgt, c.mgr, winboot.Options{Symbols: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil || !rep.Success() {
			b.Fatalf("winboot: %v\n%v", err, rep)
		}
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		b.Fatal(err)
	}
	return time.Since(began)
}

// BenchmarkNtWriteFileMonitor runs writer.exe in a tight loop and compares
// the NtWriteFile events per second the monitor delivers with the raw
// breakpoint cycle (hit, register snapshot, step over, continue) through
// vmi.Target on the same function, in the same run.
func BenchmarkNtWriteFileMonitor(b *testing.B) {
	const window = 3 * time.Second
	m := start(b, minint.Config{Seed: minint.Seed(300), PagingFiles: []string{pagefile}, WriterPeriodMS: minint.WriterTightLoop})
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		b.Fatal(err)
	}
	var raw, mon float64
	for i := 0; i < b.N; i++ {
		raw += rawCycles(b, m, window)
		mon += monitorRate(b, m, window)
	}
	b.ReportMetric(raw/float64(b.N), "raw-hits/s")
	b.ReportMetric(mon/float64(b.N), "monitor-events/s")
	b.ReportMetric(100*mon/raw, "monitor/raw-%")
}

// rawCycles is hits per second of a bare breakpoint on NtWriteFile.
func rawCycles(b *testing.B, m *minint.Machine, window time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	tgt, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tgt.Close(ctx)
	stop, err := tgt.Pause(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ka := openKernelAt(b, m, tgt, stop, "", reportedKernelBase(b, m))
	va, err := ka.k.Address("NtWriteFile")
	if err != nil {
		b.Fatal(err)
	}
	bp := vmi.Breakpoint{Kind: gdbstub.Software, Addr: va}
	if err := tgt.InsertBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	hits := 0
	began := time.Now()
	for time.Since(began) < window {
		if err := tgt.Resume(ctx); err != nil {
			b.Fatal(err)
		}
		e := <-tgt.Events()
		if e.Kind != vmi.EventStop {
			b.Fatalf("event %v", e.Kind)
		}
		if _, err := tgt.StepOver(ctx, e.Stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		hits++
	}
	rate := float64(hits) / time.Since(began).Seconds()
	if err := tgt.RemoveBreakpoint(ctx, bp); err != nil {
		b.Fatal(err)
	}
	return rate
}

// reportedKernelBase is the kernel's base as the guest reported it: a place to
// start the search when the vCPU may be in user mode.
func reportedKernelBase(b *testing.B, m *minint.Machine) uint64 {
	e, ok := report(b, m).First("kernel")
	if !ok {
		b.Fatal("no kernel event")
	}
	return uintField(b, e, "base")
}

// monitorRate is NtWriteFile events per second through the monitor.
func monitorRate(b *testing.B, m *minint.Machine, window time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	c, release, err := takeCharge(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	tgt, mgr := c.tgt, c.mgr
	stop, err := mgr.Pause(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ka := openKernelAt(b, m, tgt, stop, "", reportedKernelBase(b, m))
	mon, err := monitor.WatchNtWriteFile(ctx, mgr, ka.k.Kernel, monitor.Options{Physical: vmi.ReaderAt(tgt), Queue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	if err := mgr.Resume(ctx); err != nil {
		b.Fatal(err)
	}
	n := 0
	for time.Since(began) < window {
		select {
		case <-mon.Events():
			n++
		case <-time.After(window):
		}
	}
	rate := float64(n) / time.Since(began).Seconds()
	if err := mon.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return rate
}
