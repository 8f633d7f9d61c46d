package vmi

import (
	"bytes"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// TestQEMUTargetTwoVCPUs: under -smp 2 the Target lists two vCPUs, reads
// each one's registers, and a step-over at a breakpoint moves only the
// vCPU that hit; the guest then reaches ready.
func TestQEMUTargetTwoVCPUs(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), CPUs: 2, Paused: true})
	tg := openTarget(t, m)
	ctx := testCtx(t)
	cpus, err := tg.CPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 2 {
		t.Fatalf("vCPUs %v, want 2 under -smp 2", cpus)
	}
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(ctx, t, tg)
	if e.Kind != EventStop || rip(t, e.Stop.Registers) != fn {
		t.Fatalf("event %v %v, want the breakpoint at %#x", e.Kind, e.Stop, fn)
	}
	stop := e.Stop
	before := map[CPU]*Registers{}
	for _, cpu := range cpus {
		regs, err := tg.Registers(ctx, cpu)
		if err != nil {
			t.Fatalf("registers of %v: %v", cpu, err)
		}
		cr0, _ := regs.Uint("cr0")
		t.Logf("vCPU %v: rip %#x cr0 %#x", cpu, rip(t, regs), cr0)
		before[cpu] = regs
	}
	if !bytes.Equal(before[stop.Thread].Raw(), stop.Registers.Raw()) {
		t.Error("the stopped vCPU's registers differ from its stop snapshot")
	}
	if bytes.Equal(before[cpus[0]].Raw(), before[cpus[1]].Raw()) {
		t.Error("both vCPUs read the same registers")
	}
	step, err := tg.StepOver(ctx, stop.Thread, bp)
	if err != nil {
		t.Fatal(err)
	}
	if step.Thread != stop.Thread {
		t.Errorf("stepped %v, stopped on %v", stop.Thread, step.Thread)
	}
	for _, cpu := range cpus {
		regs, err := tg.Registers(ctx, cpu)
		if err != nil {
			t.Fatal(err)
		}
		switch was := rip(t, before[cpu]); {
		case cpu == stop.Thread && rip(t, regs) == was:
			t.Errorf("vCPU %v did not move in the step (rip %#x)", cpu, was)
		case cpu != stop.Thread && !bytes.Equal(regs.Raw(), before[cpu].Raw()):
			t.Errorf("vCPU %v moved while %v stepped (rip %#x → %#x)", cpu, stop.Thread, was, rip(t, regs))
		}
	}
	// Close removes the breakpoint and lets the guest run to ready.
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	if calls := report(t, m).All("call"); len(calls) < 2 {
		t.Errorf("%d call lines: the guest did not run on past the removed breakpoint", len(calls))
	}
}
