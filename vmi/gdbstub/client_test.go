package gdbstub

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeClient connects a client with the given capabilities to a fake.
func fakeClient(t *testing.T, o fakeOpts, accel Accelerator, cfg Config) (*fakeStub, *Client) {
	t.Helper()
	f, conn := newFake(t, o)
	if cfg.Capabilities.Accel == AccelUnknown {
		caps, err := CapabilitiesFor(accel, false)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Capabilities = caps
	}
	c, err := New(ctx(t), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return f, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// sentAfter returns the packets the fake received after the first one
// equal to mark.
func sentAfter(f *fakeStub, mark string) []string {
	log := f.packets()
	i := slices.Index(log, mark)
	if i < 0 {
		return nil
	}
	return log[i+1:]
}

func TestHandshake(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	if c.PacketSize() != 0x1000 {
		t.Errorf("PacketSize %#x", c.PacketSize())
	}
	m := c.RegisterMap()
	if m.Architecture() != "i386:x86-64" || m.Size() != 608 {
		t.Errorf("map: %q, %d bytes", m.Architecture(), m.Size())
	}
	// QEMU 7.2's numbers (platform-facts.md), read from the recording.
	for name, num := range map[string]int{"rax": 0, "rip": 16, "eflags": 17, "gs": 23, "fs_base": 24, "gs_base": 25,
		"k_gs_base": 26, "cr0": 27, "cr3": 29, "cr8": 31, "efer": 32, "xmm0": 49, "mxcsr": 65} {
		if info, ok := m.Lookup(name); !ok || info.Number != num {
			t.Errorf("%s: %+v, want number %d", name, info, num)
		}
	}
	if c.sstepFlags != 7 || !c.vCont["s"] || !c.physical || !c.multiprocess {
		t.Errorf("sstep %#x vCont %v physical %v multiprocess %v", c.sstepFlags, c.vCont, c.physical, c.multiprocess)
	}
	if slices.Contains(f.packets(), "?") {
		t.Error("New sent ?: only Attach may")
	}
}

func TestNewRequiresCapabilities(t *testing.T) {
	_, conn := newFake(t, fakeOpts{})
	if _, err := New(ctx(t), conn, Config{}); err == nil {
		t.Fatal("New accepted a Config without capabilities")
	}
}

func TestAttachToRunningGuest(t *testing.T) {
	// Connecting stopped the guest and QEMU sent T02 before anything else.
	f, c := fakeClient(t, fakeOpts{running: true}, AccelTCG, Config{})
	st, first := c.State()
	if st != StateStopped || first == nil || first.Signal != SignalInt {
		t.Fatalf("after connect: %v %v, want the unsolicited T02 as a stop", st, first)
	}
	stop, err := c.Attach(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if stop.Seq <= first.Seq || stop.Registers == nil || stop.Thread != (ThreadID{1, 1}) {
		t.Errorf("attach stop %+v", stop)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != 0xfffff80000001000 {
		t.Errorf("rip %#x", rip)
	}
	_ = f
}

func TestAttachRefusedWithBreakpointsArmed(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	if _, err := c.Attach(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.InsertBreakpoint(ctx(t), Breakpoint{Kind: Software, Addr: 0x1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attach(ctx(t)); !errors.Is(err, ErrBreakpointsArmed) {
		t.Fatalf("Attach = %v, want ErrBreakpointsArmed", err)
	}
	if n := len(slices.DeleteFunc(f.packets(), func(p string) bool { return p != "?" })); n != 1 {
		t.Errorf("? sent %d times, want once", n)
	}
}

func TestContinueHitStepOver(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{cpus: 2}, AccelTCG, Config{})
	cx := ctx(t)
	if _, err := c.Attach(cx); err != nil {
		t.Fatal(err)
	}
	bp := Breakpoint{Kind: Software, Addr: 0xfffff80000001100}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(); st != StateRunning {
		t.Fatalf("state %v after Continue", st)
	}
	waitFor(t, "the fake to run", f.isRunning) // Continue returns once sent
	f.hit(1, "")
	stop, err := c.Wait(cx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Thread != (ThreadID{1, 2}) || stop.Signal != SignalTrap {
		t.Fatalf("stop %+v", stop)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != bp.Addr {
		t.Errorf("stop snapshot rip %#x, want %#x", rip, bp.Addr)
	}
	mark := len(f.packets())
	step, err := c.StepOver(cx, stop.Thread, bp)
	if err != nil {
		t.Fatal(err)
	}
	if rip, _ := step.Registers.Uint("rip"); rip != bp.Addr+2 {
		t.Errorf("after step rip %#x", rip)
	}
	want := []string{"z0,fffff80000001100,1", "Qqemu.sstep=7", "vCont;s:p1.2", "Hgp1.2", "g", "Z0,fffff80000001100,1"}
	if got := f.packets()[mark:]; !slices.Equal(got, want) {
		t.Errorf("step-over sent %q, want %q", got, want)
	}
	// A second step does not set the flags again.
	mark = len(f.packets())
	if _, err := c.Step(cx, stop.Thread); err != nil {
		t.Fatal(err)
	}
	if got := f.packets()[mark]; got != "vCont;s:p1.2" {
		t.Errorf("second step sent %q first", got)
	}
	if got := c.Breakpoints(); len(got) != 1 || got[0] != (Breakpoint{Kind: Software, Addr: bp.Addr, Size: 1}) {
		t.Errorf("armed %v", got)
	}
}

func TestRunningGuestGetsNoBytes(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	if _, err := c.Attach(cx); err != nil {
		t.Fatal(err)
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fake to run", f.isRunning)
	var before int
	f.set(func(f *fakeStub) { before = f.received.Len() })
	if _, err := c.ReadMemory(cx, ThreadID{}, 0x2000, make([]byte, 16)); !errors.Is(err, ErrRunning) {
		t.Errorf("ReadMemory while running: %v, want ErrRunning", err)
	}
	if _, err := c.Registers(cx, ThreadID{1, 1}); !errors.Is(err, ErrRunning) {
		t.Errorf("Registers while running: %v, want ErrRunning", err)
	}
	if err := c.InsertBreakpoint(cx, Breakpoint{Addr: 0x3000}); !errors.Is(err, ErrRunning) {
		t.Errorf("InsertBreakpoint while running: %v, want ErrRunning", err)
	}
	short, cancel := context.WithTimeout(cx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait while running: %v, want the deadline", err)
	}
	var after int
	f.set(func(f *fakeStub) { after = f.received.Len() })
	if after != before || !f.isRunning() {
		t.Fatalf("%d bytes reached the stub while the guest ran", after-before)
	}
	stop, err := c.Interrupt(cx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Signal != SignalInt {
		t.Errorf("interrupt stop %v", stop)
	}
	f.set(func(f *fakeStub) {
		if got := f.received.Bytes()[before:]; got[0] != 0x03 {
			t.Errorf("first byte to the running guest %q, want 0x03", got[0])
		}
	})
	// Interrupting a stopped guest sends nothing and returns its stop.
	again, err := c.Interrupt(cx)
	if err != nil || again != stop {
		t.Errorf("second Interrupt = %v, %v; want the same stop", again, err)
	}
}

// TestResumedBehindOurBack: an operator's QMP "cont" resumes the guest
// without the stub saying so. The next request must still be answered:
// the '+' guard byte is the one QEMU spends on stopping the guest.
func TestResumedBehindOurBack(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	first, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	f.resumeBehindBack()
	buf := make([]byte, 64)
	if _, err := c.ReadMemory(cx, ThreadID{}, 0x5000, buf); err != nil {
		t.Fatalf("read after a resume behind our back: %v", err)
	}
	for i, b := range buf {
		if want := f.mem(0x5000 + uint64(i)); b != want {
			t.Fatalf("byte %d = %#x, want %#x", i, b, want)
		}
	}
	stop, err := c.WaitAfter(cx, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Signal != SignalInt {
		t.Errorf("the stop the guard byte caused: %v", stop)
	}
	// The operator resumes again and the guest hits a breakpoint: the stub
	// reports it unasked, and WaitAfter sees it.
	f.resumeBehindBack()
	f.hit(0, "")
	hit, err := c.WaitAfter(cx, stop.Seq)
	if err != nil || hit.Signal != SignalTrap {
		t.Fatalf("unsolicited T05: %v, %v", hit, err)
	}
}

func TestRegistersAndCache(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{cpus: 2}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	mark := len(f.packets())
	r, err := c.Registers(cx, stop.Thread)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.packets()) != mark {
		t.Errorf("Registers of the stopped vCPU went to the stub: %q", f.packets()[mark:])
	}
	other, err := c.Registers(cx, ThreadID{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.packets()[mark:]; !slices.Equal(got, []string{"Hgp1.2", "g"}) {
		t.Errorf("Registers of vCPU 2 sent %q", got)
	}
	if bytes.Equal(r.Raw(), other.Raw()) {
		t.Error("two vCPUs read alike")
	}
	// p reads through the stub; the vCPU was synchronized, so no g.
	mark = len(f.packets())
	v, err := c.ReadRegister(cx, ThreadID{1, 2}, "rip")
	if err != nil || !bytes.Equal(v, []byte{0x00, 0x11, 0, 0, 0, 0xf8, 0xff, 0xff}) {
		t.Errorf("ReadRegister = %x, %v", v, err)
	}
	if got := f.packets()[mark:]; !slices.Equal(got, []string{"Hgp1.2", "p10"}) {
		t.Errorf("ReadRegister sent %q", got)
	}
	// P writes, and the cache follows.
	if err := c.WriteRegister(cx, stop.Thread, "rax", []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if r2, _ := c.Registers(cx, stop.Thread); !func() bool { v, _ := r2.Uint("rax"); return v == 0x0807060504030201 }() {
		t.Error("cache not updated by WriteRegister")
	}
	if v, _ := r.Uint("rax"); v != 0 {
		t.Error("a snapshot handed out earlier changed")
	}
	// G writes the whole file.
	edit := r.Clone()
	if err := edit.SetUint("cr3", 0x1234000); err != nil {
		t.Fatal(err)
	}
	if err := c.SetRegisters(cx, stop.Thread, edit); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeStub) {
		if got, _ := f.regs(0).Uint("cr3"); got != 0x1234000 {
			t.Errorf("fake cr3 %#x after G", got)
		}
	})
	if _, err := c.ReadRegister(cx, stop.Thread, "nosuch"); !errors.Is(err, ErrUnknownRegister) {
		t.Errorf("unknown register: %v", err)
	}
	if err := c.WriteRegister(cx, stop.Thread, "rax", []byte{1}); err == nil {
		t.Error("WriteRegister took 1 byte for rax")
	}
}

func TestThreads(t *testing.T) {
	_, c := fakeClient(t, fakeOpts{cpus: 2}, AccelTCG, Config{})
	got, err := c.Threads(ctx(t))
	if err != nil || !slices.Equal(got, []ThreadID{{1, 1}, {1, 2}}) {
		t.Fatalf("Threads = %v, %v", got, err)
	}
}

func TestDetachRemovesBreakpointsThenD1(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	if _, err := c.Attach(cx); err != nil {
		t.Fatal(err)
	}
	for _, a := range []uint64{0x1000, 0x2000} {
		if err := c.InsertBreakpoint(cx, Breakpoint{Kind: Hardware, Addr: a}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	if err := c.Detach(cx); err != nil {
		t.Fatal(err)
	}
	got := sentAfter(f, "vCont;c")
	slices.Sort(got[1:3])
	want := []string{"<stopped by '\\x03'>", "Hgp1.1", "g", "z1,1000,1", "z1,2000,1", "D;1"}
	// The stop's register read and the removals may come in either order.
	if !(len(got) == 6 && got[0] == want[0] && got[5] == "D;1") {
		t.Errorf("detach sent %q", got)
	}
	f.set(func(f *fakeStub) {
		if len(f.breakpoints) != 0 || !f.running {
			t.Errorf("after detach: breakpoints %v, running %v", f.breakpoints, f.running)
		}
	})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open after Detach")
	}
}

// TestNoStopYet: connecting to a paused guest produces no stop reply, so
// Wait and Interrupt say so instead of blocking; Detach still works.
func TestNoStopYet(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	if _, err := c.Wait(ctx(t)); !errors.Is(err, ErrNoStop) {
		t.Errorf("Wait: %v, want ErrNoStop", err)
	}
	if _, err := c.Interrupt(ctx(t)); !errors.Is(err, ErrNoStop) {
		t.Errorf("Interrupt: %v, want ErrNoStop", err)
	}
	if err := c.Detach(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := f.packets(); got[len(got)-1] != "D;1" {
		t.Errorf("last packet %q, want D;1", got[len(got)-1])
	}
}

// TestStepOverRemovalFails: if the breakpoint cannot be removed, stepping
// would re-hit it without moving, so nothing is stepped or re-inserted.
func TestStepOverRemovalFails(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	mark := len(f.packets())
	// Never inserted, so the fake answers the removal with E22.
	_, err = c.StepOver(cx, stop.Thread, Breakpoint{Kind: Software, Addr: 0x1234})
	var be *BreakpointError
	if !errors.As(err, &be) || be.Op != "remove" {
		t.Fatalf("StepOver: %v, want the failed removal", err)
	}
	if got := f.packets()[mark:]; !slices.Equal(got, []string{"z0,1234,1", "Qqemu.sstep=7"}) {
		t.Errorf("sent %q; want the removal and the step flags, no step", got)
	}
	if st, _ := c.State(); st != StateStopped || f.isRunning() {
		t.Error("the guest moved")
	}
}
