package gdbstub

import (
	"context"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// TestIntegrationStepOverContinue: on real QEMU, every hit of a software
// breakpoint is stepped over and continued in one exchange; each stop is
// the hit's, the step leaves the breakpoint on the same vCPU, and the
// guest's own count of calls matches the hits (none ran past the
// breakpoint, none was lost to the continue riding with the re-insert).
func TestIntegrationStepOverContinue(t *testing.T) {
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
	if err := c.Continue(ctx); err != nil {
		t.Fatal(err)
	}
	hits := 0
	var after uint64
	for {
		stop, err := c.WaitAfter(readyCtx, after)
		if readyCtx.Err() != nil && ctx.Err() == nil {
			break // ready: the guest made its last call
		}
		if err != nil {
			t.Fatal(err)
		}
		if stop.Registers == nil {
			t.Fatalf("%v without registers: %v", stop, stop.RegistersErr)
		}
		if rip, _ := stop.Registers.Uint("rip"); rip != fn || stop.Signal != SignalTrap {
			t.Fatalf("stopped at %#x (%v), want the breakpoint at %#x", rip, stop, fn)
		}
		hits++
		step, continued, err := c.StepOverContinue(ctx, stop.Thread, bp)
		if err != nil || !continued {
			t.Fatalf("StepOverContinue: continued %v, %v", continued, err)
		}
		if rip, _ := step.Registers.Uint("rip"); rip == fn || step.Thread != stop.Thread {
			t.Fatalf("the step did not leave the breakpoint on %v: %v at %#x", stop.Thread, step, rip)
		}
		after = step.Seq
	}
	if readyErr != nil {
		t.Fatal(readyErr)
	}
	if _, err := c.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	if hits == 0 {
		t.Fatal("the breakpoint never hit")
	}
	if n := len(callEvents(t, m)); n != hits {
		t.Errorf("the guest made %d calls, the breakpoint hit %d times", n, hits)
	}
	t.Logf("%d hits, each stepped over and continued in one exchange", hits)
	if err := c.Detach(ctx); err != nil {
		t.Fatal(err)
	}
}
