package breakpoints

import (
	"context"
	"errors"
	"testing"
	"time"
)

// emulateReturn is what winboot does at NtCreatePagingFile: return
// STATUS_SUCCESS to the caller without running the function.
func emulateReturn(ctx context.Context, f *Frame) error {
	var ret [8]byte
	if err := f.ReadPhysical(ctx, f.RSP, ret[:]); err != nil { // identity-mapped in the fake
		return err
	}
	if err := f.SetRegister("rax", 0); err != nil {
		return err
	}
	if err := f.SetRegister("rip", le64(ret[:])); err != nil {
		return err
	}
	return f.SetRegister("rsp", f.RSP+8)
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func putLE64(f *fakeTarget, gpa, v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 8 {
		f.mem[gpa+uint64(i)] = byte(v >> (8 * i))
	}
}

func (f *fakeTarget) byteAt(gpa uint64) byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mem[gpa]
}

func TestStagedEditsApplied(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	const rsp, caller = 0x8000, 0xfffff800_00001234
	putLE64(f, rsp, caller)
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: emulateReturn, Owner: "winboot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn, Owner: "marker", Handler: func(ctx context.Context, f *Frame) error {
		return f.WritePhysical(0x9000, []byte{0xaa, 0xbb})
	}}); err != nil {
		t.Fatal(err)
	}
	_, steps0 := f.counts()
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": rsp, "rax": 0xc0000001}))
	if rip, rsp2, rax := f.reg(cpu1, "rip"), f.reg(cpu1, "rsp"), f.reg(cpu1, "rax"); rip != caller || rsp2 != rsp+8 || rax != 0 {
		t.Errorf("after the hit rip=%#x rsp=%#x rax=%#x, want %#x %#x 0", rip, rsp2, rax, uint64(caller), rsp+8)
	}
	if f.byteAt(0x9000) != 0xaa || f.byteAt(0x9001) != 0xbb {
		t.Error("the second handler's memory write was not applied")
	}
	if _, steps := f.counts(); steps != steps0 {
		t.Error("stepped over a breakpoint RIP had already left")
	}
}

func TestFailedHandlerEditsDropped(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{HandlerTimeout: 50 * time.Millisecond})
	ctx := testCtx(t)
	late := make(chan error, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	handlers := []Handler{
		func(ctx context.Context, f *Frame) error { // errs after staging
			f.SetRegister("rax", 1)
			f.WritePhysical(0x100, []byte{1})
			return errors.New("half done")
		},
		func(ctx context.Context, f *Frame) error { // panics after staging
			f.SetRegister("rbx", 2)
			f.WritePhysical(0x200, []byte{2})
			var p *Frame
			return p.Call.Stop.RegistersErr // nil dereference
		},
		func(ctx context.Context, f *Frame) error { // overruns its deadline
			f.SetRegister("rcx", 3)
			f.WritePhysical(0x300, []byte{3})
			<-ctx.Done()
			<-release // ignores ctx, like a stuck client
			late <- f.SetRegister("rcx", 4)
			return nil
		},
		func(ctx context.Context, f *Frame) error { // succeeds
			return f.SetRegister("rdx", 4)
		},
	}
	for _, h := range handlers {
		if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: h}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	stop := f.hit(cpu1, map[string]uint64{"rip": kfn})
	f.settle(stop)
	t.Logf("resumed %v after the hit", time.Since(start))
	for _, r := range []string{"rax", "rbx", "rcx"} {
		if v := f.reg(cpu1, r); v != 0 {
			t.Errorf("%s = %d: a failed handler's edit reached the guest", r, v)
		}
	}
	for _, a := range []uint64{0x100, 0x200, 0x300} {
		if f.byteAt(a) != 0 {
			t.Errorf("memory at %#x written by a failed handler", a)
		}
	}
	if f.reg(cpu1, "rdx") != 4 {
		t.Error("the successful handler's edit was not applied")
	}
	release <- struct{}{}
	if err := <-late; !errors.Is(err, ErrFrameDone) {
		t.Errorf("staging after the deadline: %v, want ErrFrameDone", err)
	}
	// The manager still works after all that.
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
}

func TestStepOverOnlyOnBreakpoint(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	moveTo := uint64(0)
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, f *Frame) error {
		if moveTo != 0 {
			return f.SetRegister("rip", moveTo)
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn2}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		to   uint64
		step bool
	}{
		{0, true},       // still on the breakpoint: step over it
		{0x1000, false}, // moved off every breakpoint: just resume
		{kfn2, false},   // moved onto another breakpoint: resume so it hits
	} {
		moveTo = c.to
		_, before := f.counts()
		f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
		if _, after := f.counts(); (after > before) != c.step {
			t.Errorf("rip moved to %#x: stepped %v, want %v", c.to, after > before, c.step)
		}
	}
}
