package breakpoints

import (
	"testing"

	"github.com/frostvmi/frost/vmi"
)

const isr = 0xfffff800_00abc000 // an interrupt handler

// TestRehitSuppressed: a step-over that took an interrupt (a stub that
// could not mask them) makes the guest hit the same breakpoint again on
// the interrupt's return; that re-hit is the same call and is not
// delivered. The next real call is.
func TestRehitSuppressed(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	interrupt := true
	f.onStep = func(cpu vmi.CPU, r *vmi.Registers) {
		if interrupt {
			r.SetUint("rip", isr)
			r.SetUint("rsp", 0x7f00)
			r.SetUint("eflags", 0) // the interrupt gate cleared IF
			return
		}
		rip, _ := r.Uint("rip")
		r.SetUint("rip", rip+3)
	}
	call := map[string]uint64{"rip": kfn, "rsp": 0x8000, "eflags": eflagsIF}
	f.settle(f.hit(cpu1, call))
	interrupt = false
	f.settle(f.hit(cpu1, call)) // the interrupt returned onto the breakpoint
	if n := c.n.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1: the re-hit after the interrupted step was delivered", n)
	}
	f.settle(f.hit(cpu1, call)) // the next call, same stack: a real one
	if n := c.n.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2: suppression outlived its re-hit", n)
	}
	// A clean step arms nothing, so two calls at the same RSP both count.
	f.settle(f.hit(cpu1, call))
	if n := c.n.Load(); n != 3 {
		t.Errorf("handler ran %d times, want 3", n)
	}
}

// TestRehitOtherThreadDelivered: the suppression is for the same thread
// and stack only.
func TestRehitOtherThreadDelivered(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	first := true
	f.onStep = func(cpu vmi.CPU, r *vmi.Registers) {
		if first {
			first = false
			r.SetUint("rip", isr)
			r.SetUint("eflags", 0)
			return
		}
		r.SetUint("rip", kfn+3)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": 0x8000, "eflags": eflagsIF}))
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": 0x9000, "eflags": eflagsIF}))
	if n := c.n.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2: a hit on another stack was suppressed", n)
	}
}
