package gdbstub

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The KVM quirks, against the fake stub whose KVM model replays the
// recorded session (TestFakeReplaysKVMSession).

// TestKVMStalePAfterStop: after a stop QEMU's copy of a KVM vCPU is stale
// until "g" synchronizes it. The client reads "g" after every stop, so its
// snapshot and its "p" reads are fresh.
func TestKVMStalePAfterStop(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{})
	cx := ctx(t)
	if _, err := c.Attach(cx); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fake to run", f.isRunning)
	const moved uint64 = 0xfffff8017c207252 // the recorded rip at the interrupt
	f.set(func(f *fakeStub) {
		f.onStop = func(f *fakeStub) { f.setReg(0, "rip", moved) } // synced keeps the old rip
	})
	stop, err := c.Interrupt(cx)
	if err != nil {
		t.Fatal(err)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != moved {
		t.Errorf("stop snapshot rip %#x, want %#x", rip, moved)
	}
	v, err := c.ReadRegister(cx, stop.Thread, "rip")
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(v); got != moved {
		t.Errorf("p rip after the stop = %#x (stale), want %#x", got, moved)
	}
	// The fake models the quirk (a p before any g would have read the
	// old rip), so the order is what matters.
	after := sentAfter(f, "vCont;c")
	if i := slices.Index(after, "g"); i < 0 || slices.Index(after, "p10") < i {
		t.Errorf("after the stop the client sent %q: p before g", after)
	}
}

// TestKVMFifthHardwareBreakpoint: KVM has four debug registers for all
// vCPUs. The client refuses a fifth Z1 without sending it; and if the
// capabilities were wrong, the stub's E22 still comes back as
// ErrSlotsExhausted.
func TestKVMFifthHardwareBreakpoint(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{})
	cx := ctx(t)
	if _, err := c.Attach(cx); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := c.InsertBreakpoint(cx, Breakpoint{Kind: Hardware, Addr: 0xfffff8017c201000 + uint64(i)*0x10}); err != nil {
			t.Fatalf("Z1 #%d: %v", i+1, err)
		}
	}
	fifth := Breakpoint{Kind: Hardware, Addr: 0xfffff8017c201040}
	err := c.InsertBreakpoint(cx, fifth)
	if !errors.Is(err, ErrSlotsExhausted) {
		t.Fatalf("fifth Z1: %v, want ErrSlotsExhausted", err)
	}
	if slices.Contains(f.packets(), "Z1,fffff8017c201040,1") {
		t.Error("the fifth Z1 was sent")
	}

	// Capabilities that do not know the limit: the stub's E22 decides.
	unlimited := Capabilities{Accel: AccelKVM, Hardware: true}
	f2, c2 := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{Capabilities: unlimited})
	for i := range 4 {
		if err := c2.InsertBreakpoint(cx, Breakpoint{Kind: Hardware, Addr: uint64(i) * 0x10}); err != nil {
			t.Fatal(err)
		}
	}
	err = c2.InsertBreakpoint(cx, Breakpoint{Kind: Hardware, Addr: 0x40})
	var se *StubError
	if !errors.Is(err, ErrSlotsExhausted) || !errors.As(err, &se) || se.Code != CodeEINVAL {
		t.Fatalf("stub's E22: %v, want ErrSlotsExhausted wrapping E22", err)
	}
	if !slices.Contains(f2.packets(), "Z1,40,1") {
		t.Error("the fifth Z1 never reached the stub")
	}
	if n := len(c2.Breakpoints()); n != 4 {
		t.Errorf("%d breakpoints armed, want 4", n)
	}
}

// TestKVMWatchpointsRefused: QEMU under KVM accepts Z2–Z4 (recorded) but
// they never fire, so the capabilities refuse them before sending.
func TestKVMWatchpointsRefused(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{})
	cx := ctx(t)
	for _, k := range []BreakpointKind{WriteWatch, ReadWatch, AccessWatch} {
		err := c.InsertBreakpoint(cx, Breakpoint{Kind: k, Addr: 0x1000, Size: 8})
		var ce *CapabilityError
		if !errors.Is(err, ErrRefused) || !errors.As(err, &ce) || ce.Kind != k {
			t.Errorf("%v: %v, want a CapabilityError", k, err)
		}
	}
	for _, p := range f.packets() {
		if strings.HasPrefix(p, "Z") {
			t.Errorf("sent %q", p)
		}
	}
}

func TestKVMSoftwareBreakpoints(t *testing.T) {
	cx := ctx(t)
	// Without the operator's consent: refused, since KVM writes a visible 0xCC.
	_, c := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{})
	if err := c.InsertBreakpoint(cx, Breakpoint{Addr: 0x1000}); !errors.Is(err, ErrRefused) {
		t.Errorf("Z0 under KVM without consent: %v", err)
	}
	// With consent: allowed.
	visible, _ := CapabilitiesFor(AccelKVM, true)
	_, c = fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{Capabilities: visible})
	if err := c.InsertBreakpoint(cx, Breakpoint{Addr: 0x1000}); err != nil {
		t.Errorf("Z0 under KVM with consent: %v", err)
	}
	// kvm_pvm: never, consent or not: the guest would die.
	pvm, _ := CapabilitiesFor(AccelKVMNoVirt, true)
	_, c = fakeClient(t, fakeOpts{kvm: true}, AccelKVMNoVirt, Config{Capabilities: pvm})
	if err := c.InsertBreakpoint(cx, Breakpoint{Addr: 0x1000}); !errors.Is(err, ErrRefused) {
		t.Errorf("Z0 under kvm_pvm: %v", err)
	}
}

// TestKVMStepFlags: KVM offers ENABLE|NOIRQ only, and the client asks for
// no more than that (QEMU would answer E22).
func TestKVMStepFlags(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{kvm: true}, AccelKVM, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(cx, stop.Thread); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.packets(), "Qqemu.sstep=3") {
		t.Errorf("step flags: sent %q", f.packets())
	}
}
