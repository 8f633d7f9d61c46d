package vmi

import (
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// TestQEMUTargetLifecycle: a guest that resets itself (resetonce) yields
// EventReset from QMP's RESET and boots on to ready; QEMU ending yields
// EventShutdown, then EventGone, then the channel closes. (mini-NT pokes
// the keyboard controller in a loop until the reset lands, and under TCG
// the second poke gets in first: QEMU reports two RESETs for one reboot.)
func TestQEMUTargetLifecycle(t *testing.T) {
	m := boot(t, minint.Config{ResetOnce: true, Paused: true})
	tg := openTarget(t, m)
	ctx := testCtx(t)
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(ctx, t, tg)
	if e.Kind != EventReset || e.Reason != "guest-reset" {
		t.Fatalf("event %v (%q), want a reset by the guest", e.Kind, e.Reason)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	if n := len(report(t, m).All("loader")); n != 2 {
		t.Errorf("%d loader lines, want 2 (one per boot)", n)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	e = nextEvent(ctx, t, tg)
	for e.Kind == EventReset {
		t.Logf("another reset: %q", e.Reason)
		e = nextEvent(ctx, t, tg)
	}
	if e.Kind != EventShutdown {
		t.Fatalf("event %v (%q) after QEMU ended, want shutdown", e.Kind, e.Reason)
	} else {
		t.Logf("shutdown: %q", e.Reason)
	}
	if e := nextEvent(ctx, t, tg); e.Kind != EventGone || e.Err == nil {
		t.Fatalf("event %v (%v), want gone with its cause", e.Kind, e.Err)
	} else {
		t.Logf("gone: %v", e.Err)
	}
	if _, ok := <-tg.Events(); ok {
		t.Error("Events still open after gone")
	}
	if err := tg.Close(ctx); err != nil {
		t.Errorf("Close after QEMU ended: %v", err)
	}
}

// TestBehindOurBack: an operator's QMP cont (Machine.Resume, on the first
// QMP socket, which the Target leaves free) runs the guest behind the
// Target's back; the breakpoint it then hits arrives on Events all the
// same. An operator's QMP stop arrives as a stop too (T02, Outside).
func TestBehindOurBack(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), Paused: true})
	tg := openTarget(t, m)
	ctx := testCtx(t)
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	// EventResumed comes first if the reconciler confirmed the resume
	// before the guest reached the breakpoint (QMP RESUME is only a hint).
	e := nextEvent(ctx, t, tg)
	if e.Kind == EventResumed {
		e = nextEvent(ctx, t, tg)
	}
	if e.Kind != EventStop || e.Stop.Signal != gdbstub.SignalTrap || rip(t, e.Stop.Registers) != fn {
		t.Fatalf("event %v %v, want the hit at %#x", e.Kind, e.Stop, fn)
	}
	if running, stop := tg.Running(); running || stop.Seq != e.Stop.Seq {
		t.Fatalf("Running() = %v, %v; want stopped at the hit", running, stop)
	}
	if _, err := tg.StepOver(ctx, e.Stop.Thread, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.RemoveBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(ctx, t, tg); e.Kind != EventStop || e.Stop.Signal != gdbstub.SignalInt || !e.Stop.Outside {
		t.Fatalf("event %v %v after QMP stop, want a T02 stop", e.Kind, e.Stop)
	}
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
}
