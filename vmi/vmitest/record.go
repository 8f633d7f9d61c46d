package vmitest

import (
	"slices"

	"github.com/frostvmi/frost/vmi"
)

// Op names a vmi.Target method, for the call log and failure injection.
type Op string

const (
	OpPause         Op = "Pause"
	OpResume        Op = "Resume"
	OpStep          Op = "Step"
	OpStepOver      Op = "StepOver"
	OpCPUs          Op = "CPUs"
	OpRegisters     Op = "Registers"
	OpSetRegisters  Op = "SetRegisters"
	OpReadPhysical  Op = "ReadPhysical"
	OpWritePhysical Op = "WritePhysical"
	OpInsert        Op = "InsertBreakpoint"
	OpRemove        Op = "RemoveBreakpoint"
	OpClose         Op = "Close"
)

// Call is one call the code under test made. Successful physical reads
// are not logged (there are many); failed ones are.
type Call struct {
	Op         Op
	CPU        vmi.CPU          // Step, StepOver, Registers, SetRegisters
	Over       []vmi.Breakpoint // StepOver
	Breakpoint vmi.Breakpoint   // InsertBreakpoint, RemoveBreakpoint
	GPA        uint64           // ReadPhysical, WritePhysical
	Len        int              // ReadPhysical, WritePhysical
	Data       []byte           // WritePhysical: what was written
	Err        error            // what the call returned
}

// Calls returns the call log, oldest first.
func (t *Target) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// Count counts the calls of op that succeeded.
func (t *Target) Count(op Op) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.calls {
		if c.Op == op && c.Err == nil {
			n++
		}
	}
	return n
}

// Armed lists the breakpoints armed now, by address.
func (t *Target) Armed() []vmi.Breakpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var bps []vmi.Breakpoint
	for bp := range t.armed {
		bps = append(bps, bp)
	}
	slices.SortFunc(bps, func(a, b vmi.Breakpoint) int {
		switch {
		case a.Addr != b.Addr:
			if a.Addr < b.Addr {
				return -1
			}
			return 1
		case a.Kind != b.Kind:
			return int(a.Kind) - int(b.Kind)
		}
		return a.Size - b.Size
	})
	return bps
}

// Inserted and Removed list the breakpoints successfully inserted and
// removed, in call order.
func (t *Target) Inserted() []vmi.Breakpoint { return t.breakpoints(OpInsert) }
func (t *Target) Removed() []vmi.Breakpoint  { return t.breakpoints(OpRemove) }

func (t *Target) breakpoints(op Op) []vmi.Breakpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var bps []vmi.Breakpoint
	for _, c := range t.calls {
		if c.Op == op && c.Err == nil {
			bps = append(bps, c.Breakpoint)
		}
	}
	return bps
}

// Regs returns a copy of cpu's register file as it is now, whatever the
// run state (nil for an unknown vCPU).
func (t *Target) Regs(cpu vmi.CPU) *vmi.Registers {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.regs[cpu]; ok {
		return r.Clone()
	}
	return nil
}

// Peek reads guest RAM for the test, whatever the run state.
func (t *Target) Peek(gpa uint64, n int) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := make([]byte, n)
	return p, t.mem.read(gpa, p)
}
