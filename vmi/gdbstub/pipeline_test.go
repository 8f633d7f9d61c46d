package gdbstub

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestStepOverPipelined: stepping over a breakpoint this client armed
// sends the removal and the step without waiting for the removal's
// reply. The fake holds that reply until the next packet arrives, so a
// client that waited for it would never step.
func TestStepOverPipelined(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	// Step once first: the step flags are then set, so the step-over is
	// only the removal and the step.
	if stop, err = c.Step(cx, stop.Thread); err != nil {
		t.Fatal(err)
	}
	rip, _ := stop.Registers.Uint("rip")
	bp := Breakpoint{Kind: Hardware, Addr: rip}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeStub) { f.holdReplyTo = "z1" })
	mark := len(f.packets())
	sctx, cancel := context.WithTimeout(cx, 5*time.Second)
	defer cancel()
	after, err := c.StepOver(sctx, stop.Thread, bp)
	if err != nil {
		t.Fatalf("StepOver: %v (sent %q)", err, f.packets()[mark:])
	}
	got := f.packets()[mark:]
	if len(got) < 2 || got[0] != "z1,"+hexU(rip)+",1" || got[1] != "vCont;s:"+stop.Thread.String() {
		t.Fatalf("sent %q; want the removal, then the step before its reply", got)
	}
	if !slices.Contains(got, "Z1,"+hexU(rip)+",1") {
		t.Errorf("sent %q; the breakpoint was not re-inserted", got)
	}
	if r, _ := after.Registers.Uint("rip"); r != rip+2 {
		t.Errorf("after the step rip %#x, want %#x", r, rip+2)
	}
	f.set(func(f *fakeStub) {
		if !f.breakpoints["Z1,"+hexU(rip)+",1"] {
			t.Errorf("the stub's breakpoints after the step-over: %v", f.breakpoints)
		}
	})
}

// TestStepOverPipelinedRemovalFails: an armed breakpoint the stub lost
// (here removed behind the client's back) fails its removal after the
// step already went out: the caller hears of the removal and of the
// step, and gets the stop.
func TestStepOverPipelinedRemovalFails(t *testing.T) {
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
	after, err := c.StepOver(cx, stop.Thread, bp)
	var be *BreakpointError
	if !errors.As(err, &be) || be.Op != "remove" {
		t.Fatalf("StepOver: %v, want the failed removal", err)
	}
	if after == nil {
		t.Fatal("no stop: the step went out and its stop must be returned")
	}
	if r, _ := after.Registers.Uint("rip"); r != rip+2 {
		t.Errorf("after the step rip %#x, want %#x", r, rip+2)
	}
}

func hexU(v uint64) string { return strconv.FormatUint(v, 16) }
