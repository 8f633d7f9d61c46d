package api

import (
	"context"
	"errors"
	"testing"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/qmp"
)

// pausable is a Target that runs until paused; only what Pause and the
// system-register path call is implemented.
type pausable struct {
	fakeBase
	running bool
	monitor []qmp.CPURegisters
}

func (p *pausable) Name() string               { return "pausable" }
func (p *pausable) Running() (bool, *vmi.Stop) { return p.running, nil }
func (p *pausable) Pause(context.Context) (*vmi.Stop, error) {
	p.running = false
	return &vmi.Stop{Signal: 2}, nil
}

// withMonitor adds QEMU's `info registers` to a pausable target.
type withMonitor struct{ *pausable }

func (w withMonitor) SystemRegisters(context.Context) ([]qmp.CPURegisters, error) {
	if w.monitor == nil {
		return nil, errors.New("monitor gone")
	}
	return w.monitor, nil
}

// Pause says whether it stopped a running guest, so a dump resumes only a
// guest it stopped and leaves one already stopped as it was.
func TestPauseSaysWhetherTheGuestRan(t *testing.T) {
	tg := &pausable{running: true}
	c := testConfig(&Config{})
	addVM(t, c, "g", tg)
	s := &cpuService{c: c}
	for _, want := range []bool{true, false} {
		resp, err := s.Pause(context.Background(), &pb.PauseRequest{Vm: "g"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetWasRunning() != want {
			t.Errorf("was_running %v, want %v", resp.GetWasRunning(), want)
		}
	}
}

// The system state comes per vCPU in the order of the register files, by
// QEMU's CPU number; a target without a monitor, or a monitor that fails
// or lacks a vCPU, gives none and says why, never zeros.
func TestSystemRegisters(t *testing.T) {
	cpus := []vmi.CPU{{Pid: 1, Tid: 2}, {Pid: 1, Tid: 1}}
	mon := []qmp.CPURegisters{
		{CPU: 0, Segments: map[string]qmp.Segment{"CS": {Selector: 0x10, Limit: 0xffffffff, Flags: 0x209b00}, "TR": {Selector: 0x40, Base: 0xfffff80000001000, Limit: 0x67, Flags: 0x8b00}},
			GDT: qmp.DescriptorTable{Base: 0xfffff80000002000, Limit: 0x57}, IDT: qmp.DescriptorTable{Base: 0xfffff80000003000, Limit: 0xfff}},
		{CPU: 1, Segments: map[string]qmp.Segment{"CS": {Selector: 0x10}}},
	}
	c := testConfig(&Config{})
	vm := addVM(t, c, "g", withMonitor{&pausable{monitor: mon}})
	got, why := systemRegisters(context.Background(), vm, cpus)
	if why != "" || len(got) != 2 {
		t.Fatalf("got %v, %q", got, why)
	}
	if got[0].GetCpu() != 1 || got[1].GetCpu() != 0 {
		t.Errorf("vCPU order %d, %d; want 1, 0", got[0].GetCpu(), got[1].GetCpu())
	}
	c0 := got[1]
	if c0.GetGdt().GetBase() != 0xfffff80000002000 || c0.GetIdt().GetLimit() != 0xfff || len(c0.GetSegments()) != 2 {
		t.Errorf("cpu 0: %v", c0)
	}
	if s := c0.GetSegments()[1]; s.GetName() != "tr" || s.GetBase() != 0xfffff80000001000 || s.GetLimit() != 0x67 || s.GetFlags() != 0x8b00 {
		t.Errorf("tr: %v", s)
	}

	for name, tg := range map[string]vmi.Target{
		"no monitor":     &pausable{},
		"monitor fails":  withMonitor{&pausable{}},
		"a vCPU missing": withMonitor{&pausable{monitor: mon[:1]}},
	} {
		got, why := systemRegisters(context.Background(), addVM(t, c, name, tg), cpus)
		if got != nil || why == "" {
			t.Errorf("%s: got %v, %q; want none and a reason", name, got, why)
		}
	}
}
