package vmitest_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func newTarget(t *testing.T, cfg vmitest.Config) *vmitest.Target {
	t.Helper()
	tg, err := vmitest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close(context.Background()) })
	return tg
}

func next(t *testing.T, tg *vmitest.Target) vmi.Event {
	t.Helper()
	select {
	case e := <-tg.Events():
		return e
	case <-ctx(t).Done():
		t.Fatal("no event")
	}
	return vmi.Event{}
}

func TestRunStateRules(t *testing.T) {
	c := ctx(t)
	tg := newTarget(t, vmitest.Config{})
	cpu := vmi.CPU{Pid: 1, Tid: 1}
	if running, stop := tg.Running(); running || stop == nil || stop.Signal != vmi.SignalInt {
		t.Fatalf("a new fake is stopped in an interrupt, as an opened Target is: %v %+v", running, stop)
	}
	bp := vmi.Breakpoint{Kind: vmi.SoftwareBreakpoint, Addr: 0x1000}
	if err := tg.InsertBreakpoint(c, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(c); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"resume":    tg.Resume(c),
		"insert":    tg.InsertBreakpoint(c, bp),
		"remove":    tg.RemoveBreakpoint(c, bp),
		"write":     tg.WritePhysical(c, 0, []byte{1}),
		"registers": func() error { _, err := tg.Registers(c, cpu); return err }(),
	} {
		if !errors.Is(err, vmi.ErrRunning) {
			t.Errorf("%s while running: %v, want ErrRunning", name, err)
		}
	}
	if err := tg.ReadPhysical(c, 0, make([]byte, 8)); err != nil {
		t.Errorf("a read never needs the guest stopped: %v", err)
	}
	stop, err := tg.Hit(c, cpu, map[string]uint64{"rip": 0x1000})
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, tg); e.Kind != vmi.EventStop || e.Stop != stop || e.Stop.Signal != vmi.SignalTrap {
		t.Errorf("hit: %+v", e)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != 0x1000 {
		t.Errorf("the stop's snapshot has rip %#x", rip)
	}
	s, err := tg.StepOver(c, cpu, bp)
	if err != nil {
		t.Fatal(err)
	}
	if rip, _ := s.Registers.Uint("rip"); rip != 0x1001 || len(tg.Armed()) != 1 {
		t.Errorf("step over: rip %#x, armed %v", rip, tg.Armed())
	}
	if _, err := tg.StepOver(c, cpu, vmi.Breakpoint{Kind: vmi.SoftwareBreakpoint, Addr: 0x2000}); err == nil {
		t.Error("stepping over a breakpoint that is not armed succeeded")
	}
	p, err := tg.Pause(c)
	if err != nil || p.Seq != s.Seq {
		t.Errorf("pausing a stopped guest returns the stop it is in: %+v %v", p, err)
	}
	if n := tg.Count(vmitest.OpResume); n != 1 {
		t.Errorf("%d resumes", n)
	}
}

func TestMemory(t *testing.T) {
	c := ctx(t)
	tg := newTarget(t, vmitest.Config{RAM: 0x10000})
	tg.AddRAM(0x100000, 0x1000)
	if err := tg.WritePhysical(c, 0xfffe, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 8)
	if err := tg.ReadPhysical(c, 0xfffc, p); err == nil {
		t.Error("a read past RAM succeeded")
	} else if nr := (*vmi.NotRAMError)(nil); !errors.As(err, &nr) || nr.GPA != 0x10000 {
		t.Errorf("a read past RAM: %v, want a NotRAMError at 0x10000", err)
	}
	if err := tg.ReadPhysical(c, 0xfffc, p[:2]); err != nil {
		t.Fatal(err)
	}
	got, err := tg.Peek(0xfffe, 2)
	if err != nil || !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("peek %x %v", got, err)
	}
	if m := tg.PhysicalMap(); len(m) != 2 || m[1].GPA != 0x100000 {
		t.Errorf("map %+v", m)
	}
}

func TestBreakpointCapabilities(t *testing.T) {
	c := ctx(t)
	caps, err := vmi.CapabilitiesFor(vmi.AccelKVMNoVirt, false)
	if err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, vmitest.Config{Capabilities: &caps})
	if err := tg.InsertBreakpoint(c, vmi.Breakpoint{Kind: vmi.SoftwareBreakpoint, Addr: 1}); !errors.Is(err, vmi.ErrRefused) {
		t.Errorf("Z0 under KVM without consent: %v, want ErrRefused", err)
	}
	for i := 0; i < caps.HardwareSlots; i++ {
		if err := tg.InsertBreakpoint(c, vmi.Breakpoint{Kind: vmi.HardwareBreakpoint, Addr: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.InsertBreakpoint(c, vmi.Breakpoint{Kind: vmi.HardwareBreakpoint, Addr: 99}); !errors.Is(err, vmi.ErrSlotsExhausted) {
		t.Errorf("one hardware breakpoint too many: %v", err)
	}
	if got := len(tg.Inserted()); got != caps.HardwareSlots {
		t.Errorf("%d inserted", got)
	}
}

func TestOutsideAndLifecycle(t *testing.T) {
	c := ctx(t)
	tg := newTarget(t, vmitest.Config{Running: true})
	s, err := tg.OutsidePause(c, false)
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, tg); e.Stop != s || !e.Stop.Outside || e.Stop.Stray {
		t.Errorf("outside pause: %+v", e.Stop)
	}
	if err := tg.OutsideResume("virsh resume"); err != nil {
		t.Fatal(err)
	}
	if e := next(t, tg); e.Kind != vmi.EventResumed || e.Reason != "virsh resume" {
		t.Errorf("outside resume: %+v", e)
	}
	if running, _ := tg.Running(); !running {
		t.Error("the guest does not run after an outside resume")
	}
	cpu := vmi.CPU{Pid: 1, Tid: 1}
	if err := tg.RaceHit(cpu, map[string]uint64{"rip": 0x42}); err != nil {
		t.Fatal(err)
	}
	p, err := tg.Pause(c)
	if err != nil || p.Signal != vmi.SignalTrap {
		t.Fatalf("pause lost to a hit: %+v %v", p, err)
	}
	if e := next(t, tg); e.Stop != p {
		t.Error("the raced hit is delivered on Events too")
	}
	tg.Reset("guest-reset")
	if e := next(t, tg); e.Kind != vmi.EventReset {
		t.Errorf("reset: %+v", e)
	}
	tg.Gone(nil)
	if e := next(t, tg); e.Kind != vmi.EventGone {
		t.Errorf("gone: %+v", e)
	}
	if _, ok := <-tg.Events(); ok {
		t.Error("events stay open after EventGone")
	}
	if err := tg.Resume(c); !errors.Is(err, vmi.ErrClosed) {
		t.Errorf("resume after gone: %v", err)
	}
}

func TestFailureInjection(t *testing.T) {
	c := ctx(t)
	tg := newTarget(t, vmitest.Config{})
	boom := errors.New("boom")
	tg.FailNext(vmitest.OpResume, boom)
	if err := tg.Resume(c); !errors.Is(err, boom) {
		t.Fatalf("resume: %v", err)
	}
	if running, _ := tg.Running(); running {
		t.Error("a failed resume ran the guest")
	}
	if err := tg.Resume(c); err != nil {
		t.Fatalf("the failure was for one call: %v", err)
	}
	var hooked bool
	tg.Hook(vmitest.OpPause, func(vmitest.Call) error {
		// An operator pauses the guest as Frost is about to.
		_, err := tg.OutsidePause(c, false)
		hooked = true
		return err
	})
	p, err := tg.Pause(c)
	if err != nil || !hooked || !p.Outside {
		t.Errorf("a pause that met an outside pause returns it: %+v %v", p, err)
	}
	calls := tg.Calls()
	if calls[0].Op != vmitest.OpResume || !errors.Is(calls[0].Err, boom) {
		t.Errorf("log: %+v", calls[0])
	}
}
