package vmi

import (
	"context"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// TestQEMUTargetBreakpoint: through the Target of a QEMU we launched, a Z0
// on NtQueryValueKey armed before the guest runs arrives on Events with
// the registers the guest prints for that call (rip, cr3, gs_base,
// k_gs_base, efer); step-over moves on each time, and the guest reaches
// ready. A Pause that races a hit returns the hit, and the hit still
// arrives on Events. Close leaves the guest running.
func TestQEMUTargetBreakpoint(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), Paused: true})
	tg := openTarget(t, m)
	ctx := testCtx(t)
	if caps := tg.Capabilities(); caps.Accel != gdbstub.AccelTCG || !caps.Software || caps.SoftwareVisible {
		t.Fatalf("capabilities %+v, want TCG's invisible Z0", caps)
	}
	if running, stop := tg.Running(); running || stop == nil {
		t.Fatalf("after open: running=%v stop=%v; want stopped by the attach", running, stop)
	}
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	readyCtx, ready := context.WithCancel(ctx)
	var readyErr error
	go func() {
		_, readyErr = m.WaitEvent(ctx, "ready")
		ready()
	}()

	hits, raced := 0, 0
	pending := false // a hit that Pause returned is still to come on Events
	for {
		if !pending {
			if err := tg.Resume(ctx); err != nil {
				t.Fatal(err)
			}
		}
		pending = false
		var e Event
		select {
		case e = <-tg.Events():
		case <-readyCtx.Done():
		}
		if e.Kind == 0 {
			if ctx.Err() != nil {
				t.Fatal(ctx.Err())
			}
			break // ready, and no hit pending
		}
		if e.Kind != EventStop || e.Stop == nil {
			t.Fatalf("event %v (%+v), want a stop", e.Kind, e)
		}
		stop := e.Stop
		if got := rip(t, stop.Registers); got != fn {
			t.Fatalf("stopped at %#x (%v), want the breakpoint at %#x", got, stop, fn)
		}
		hits++
		step, err := tg.StepOver(ctx, stop.Thread, bp)
		if err != nil {
			t.Fatal(err)
		}
		if rip(t, step.Registers) == fn || step.Thread != stop.Thread {
			t.Fatalf("the step did not leave the breakpoint on %v: %v", stop.Thread, step)
		}
		// The guest prints its line for this call after the breakpoint:
		// let it run to the line, then compare.
		if err := tg.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		waitCount(ctx, t, m, "call", hits)
		paused, err := tg.Pause(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if paused.Signal == gdbstub.SignalTrap && rip(t, paused.Registers) == fn {
			pending, raced = true, raced+1
		}
		calls := report(t, m).All("call")
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
	if n := len(report(t, m).All("call")); n != hits {
		t.Errorf("the guest made %d calls, the breakpoint hit %d times", n, hits)
	}
	t.Logf("%d hits (%d raced a pause), each matching the guest's call line; the guest reached ready", hits, raced)

	writes := len(report(t, m).All("write"))
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-tg.Events(); ok {
		t.Error("Events still open after Close")
	}
	waitCount(ctx, t, m, "write", writes+1)
}
