package breakpoints

import (
	"errors"
	"testing"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

func TestSharedSlot(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var a, b counter
	first, err := m.Add(ctx, Spec{Addr: kfn, Handler: a.handle, Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Add(ctx, Spec{Addr: kfn, Handler: b.handle, Owner: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Shared || !second.Shared || first.ID == second.ID {
		t.Errorf("armed %+v then %+v: want a new slot, then the same one shared", first, second)
	}
	if n := f.insertCount(); n != 1 {
		t.Errorf("%d inserts for two observers on one address, want 1", n)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if a.n.Load() != 1 || b.n.Load() != 1 {
		t.Errorf("handlers ran %d and %d times, want once each", a.n.Load(), b.n.Load())
	}
	if err := m.Remove(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	bp := vmi.Breakpoint{Kind: gdbstub.Software, Addr: kfn, Size: 1}
	if !f.armedSet()[bp] {
		t.Fatal("removing one of two observers disarmed the slot")
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if a.n.Load() != 1 || b.n.Load() != 2 {
		t.Errorf("after removing a: handlers ran %d and %d times, want 1 and 2", a.n.Load(), b.n.Load())
	}
	if err := m.Remove(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if len(f.armedSet()) != 0 {
		t.Errorf("armed after removing every observer: %v", f.armedSet())
	}
	if err := m.Remove(ctx, second.ID); !errors.Is(err, ErrUnknown) {
		t.Errorf("removing twice: %v, want ErrUnknown", err)
	}
	f.waitRunning()
}

func TestOneShot(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var once, always counter
	shot, err := m.Add(ctx, Spec{Addr: kfn, OneShot: true, Handler: once.handle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn2, OneShot: true, Handler: always.handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn2, Handler: always.handle}); err != nil {
		t.Fatal(err)
	}
	resumes0, _ := f.counts()
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if _, err := m.Lookup(ctx, shot.ID); !errors.Is(err, ErrUnknown) {
		t.Errorf("a fired one-shot is still known: %v", err)
	}
	if f.armedSet()[vmi.Breakpoint{Kind: gdbstub.Software, Addr: kfn, Size: 1}] {
		t.Error("a fired one-shot's slot is still armed")
	}
	resumes, steps := f.counts()
	if steps != 0 || resumes != resumes0+1 {
		t.Errorf("%d step-overs, %d resumes: the slot is gone, so resume without a step", steps, resumes)
	}
	for range 3 {
		f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn2}))
	}
	if once.n.Load() != 1 || always.n.Load() != 4 {
		t.Errorf("one-shot ran %d times, the shared slot's handlers %d, want 1 and 4", once.n.Load(), always.n.Load())
	}
}

func kvmCaps(t *testing.T, accel gdbstub.Accelerator, visible bool) vmi.Capabilities {
	c, err := gdbstub.CapabilitiesFor(accel, visible)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlotPolicy(t *testing.T) {
	hw := Placement{Kind: gdbstub.Hardware}
	sw := Placement{Kind: gdbstub.Software}
	visible := Placement{Kind: gdbstub.Software, Visible: true}
	for _, c := range []struct {
		name string
		caps vmi.Capabilities
		// want is the placement of each new address in turn; a zero
		// Placement after the list means the next one fails.
		want []Placement
		full bool
	}{
		{"TCG", tcgCaps(), []Placement{sw, sw, sw, sw, sw, sw, sw}, false},
		{"KVM", kvmCaps(t, gdbstub.AccelKVM, false), []Placement{hw, hw, hw, hw}, true},
		{"KVM visible allowed", kvmCaps(t, gdbstub.AccelKVM, true), []Placement{hw, hw, hw, hw, visible, visible}, false},
		{"KVM without vmx/svm", kvmCaps(t, gdbstub.AccelKVMNoVirt, true), []Placement{hw, hw, hw, hw}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, c.caps)
			m := newManager(t, f, Options{})
			ctx := testCtx(t)
			var ids []ID
			for i, want := range c.want {
				a, err := m.Add(ctx, Spec{Addr: kfn + uint64(i)*0x10})
				if err != nil {
					t.Fatalf("breakpoint %d: %v", i, err)
				}
				if a.Placement != want {
					t.Errorf("breakpoint %d placed %v, want %v", i, a.Placement, want)
				}
				ids = append(ids, a.ID)
			}
			// Sharing an armed address never needs a slot.
			if a, err := m.Add(ctx, Spec{Addr: kfn}); err != nil || !a.Shared {
				t.Errorf("sharing a slot: %+v, %v", a, err)
			}
			_, err := m.Add(ctx, Spec{Addr: kfn2 + 0x1000})
			var se *SlotError
			if c.full != errors.As(err, &se) || c.full != errors.Is(err, ErrNoSlot) {
				t.Fatalf("one more: %v; want a *SlotError: %v", err, c.full)
			}
			if c.full {
				t.Logf("exhausted: %v", err)
				if se.HardwareUsed != 4 {
					t.Errorf("SlotError counts %d debug registers in use, want 4", se.HardwareUsed)
				}
				// Freeing a slot makes room.
				if err := m.Remove(ctx, ids[1]); err != nil {
					t.Fatal(err)
				}
				if a, err := m.Add(ctx, Spec{Addr: kfn2 + 0x1000}); err != nil || a.Placement != hw {
					t.Errorf("after a removal: %+v, %v; want a debug register", a, err)
				}
			}
			f.waitRunning()
		})
	}
}

// TestStubRefusesHardware: a debug register the stub says is taken
// (another debugger's) falls through to a visible software breakpoint
// when those are allowed, and to ErrNoSlot otherwise.
func TestStubRefusesHardware(t *testing.T) {
	for _, visible := range []bool{true, false} {
		f := newFake(t, kvmCaps(t, gdbstub.AccelKVM, visible))
		f.stubSlots = 1
		m := newManager(t, f, Options{})
		ctx := testCtx(t)
		if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
			t.Fatal(err)
		}
		a, err := m.Add(ctx, Spec{Addr: kfn2})
		if visible && (err != nil || a.Placement != Placement{Kind: gdbstub.Software, Visible: true}) {
			t.Errorf("visible allowed: %+v, %v; want a visible software breakpoint", a, err)
		}
		if !visible && !errors.Is(err, ErrNoSlot) {
			t.Errorf("visible not allowed: %+v, %v; want ErrNoSlot", a, err)
		}
	}
}
