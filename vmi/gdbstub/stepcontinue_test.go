package gdbstub

import (
	"errors"
	"slices"
	"testing"
)

// TestStepOverContinue: the continue goes out with the step's register
// read and the re-insert, the step's stop comes back with its registers,
// the guest runs, and the next hit is reported as usual.
func TestStepOverContinue(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	rip, _ := stop.Registers.Uint("rip")
	bp := Breakpoint{Kind: Hardware, Addr: rip}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		t.Fatal(err)
	}
	mark := len(f.packets())
	step, continued, err := c.StepOverContinue(cx, stop.Thread, bp)
	if err != nil || !continued {
		t.Fatalf("StepOverContinue: continued %v, %v", continued, err)
	}
	if r, _ := step.Registers.Uint("rip"); r != rip+2 || step.Seq <= stop.Seq {
		t.Errorf("step's stop: rip %#x seq %d, want rip %#x after seq %d", r, step.Seq, rip+2, stop.Seq)
	}
	th := stop.Thread.String()
	z := hexU(rip)
	want := []string{"Qqemu.sstep=7", "z1," + z + ",1", "vCont;s:" + th, "Hg" + th, "g", "Z1," + z + ",1", "vCont;c"}
	got := slices.DeleteFunc(f.packets()[mark:], func(p string) bool { return p == "Qqemu.sstep=7" })
	if !slices.Equal(got, slices.DeleteFunc(want, func(p string) bool { return p == "Qqemu.sstep=7" })) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if st, _ := c.State(); st != StateRunning || !f.isRunning() {
		t.Errorf("after StepOverContinue: client %v, stub running %v", st, f.isRunning())
	}
	f.hit(0, "hwbreak:;")
	next, err := c.WaitAfter(cx, step.Seq)
	if err != nil {
		t.Fatalf("%v (sent %q)", err, f.packets())
	}
	if next.Seq <= step.Seq || next.Registers == nil {
		t.Errorf("next hit %v (seq %d), want a newer stop with registers", next, next.Seq)
	}
	f.set(func(f *fakeStub) {
		if !f.breakpoints["Z1,"+z+",1"] {
			t.Errorf("the breakpoint is not back in: %v", f.breakpoints)
		}
	})
}

// TestStepOverContinueNotAfterFailedRemoval: when the removal failed, the
// step went out (pipelined) but the guest is not continued: the caller
// gets the removal's error, the step's stop, and a stopped guest.
func TestStepOverContinueNotAfterFailedRemoval(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	rip, _ := stop.Registers.Uint("rip")
	bp := Breakpoint{Kind: Hardware, Addr: rip}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeStub) { clear(f.breakpoints) })
	step, continued, err := c.StepOverContinue(cx, stop.Thread, bp)
	var be *BreakpointError
	if !errors.As(err, &be) || be.Op != "remove" || continued {
		t.Fatalf("StepOverContinue: continued %v, %v; want the failed removal and no continue", continued, err)
	}
	if step == nil || step.Registers == nil {
		t.Fatalf("step's stop %v: want it with registers (sent %q)", step, f.packets())
	}
	if st, _ := c.State(); st != StateStopped || f.isRunning() {
		t.Errorf("client %v, stub running %v: want the guest stopped", st, f.isRunning())
	}
	if slices.Contains(f.packets(), "vCont;c") {
		t.Errorf("sent a continue: %q", f.packets())
	}
}

// TestStepOverContinueNotAfterOutsidePause: a step whose stop is not a
// trap on the stepped vCPU (here the fake reports the step as a T02, as
// when someone paused the guest at that moment) is not continued.
func TestStepOverContinueNotAfterOutsidePause(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	rip, _ := stop.Registers.Uint("rip")
	bp := Breakpoint{Kind: Hardware, Addr: rip}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeStub) { f.stepSignal = SignalInt })
	_, continued, err := c.StepOverContinue(cx, stop.Thread, bp)
	if err != nil || continued {
		t.Fatalf("StepOverContinue: continued %v, %v; want no continue and no error", continued, err)
	}
	if st, _ := c.State(); st != StateStopped || f.isRunning() {
		t.Errorf("client %v, stub running %v: want the guest stopped", st, f.isRunning())
	}
}
