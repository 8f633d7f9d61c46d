package vmi

import (
	"context"
	"errors"

	"github.com/frostvmi/frost/vmi/qmp"
)

// The vCPU state QEMU's monitor reports beside the gdbstub's registers.
type (
	// CPURegisters is one vCPU's HMP `info registers` block: Values by
	// QEMU's upper-case names (RAX..R15, RIP, RFL, CR0..CR4, DR0..DR7,
	// EFER, ...), segment registers with their descriptor caches (ES CS SS
	// DS FS GS LDT TR), GDT and IDT.
	CPURegisters = qmp.CPURegisters
	// Segment is a segment register with its cached descriptor.
	Segment = qmp.Segment
	// DescriptorTable is the GDT's or IDT's base and limit.
	DescriptorTable = qmp.DescriptorTable
)

// SystemRegisterReader is a Target that can read the vCPU state the
// gdbstub does not describe. Optional, like PhysicalMapper: a target
// without a QEMU monitor (a fake) has none.
type SystemRegisterReader interface {
	// SystemRegisters returns every vCPU's state, running or not (a
	// running guest's values are a moment's).
	SystemRegisters(ctx context.Context) ([]CPURegisters, error)
}

var _ SystemRegisterReader = (*guest)(nil)

var errNoMonitor = errors.New("no QEMU monitor")

// SystemRegisters reads every vCPU's state that QEMU's gdbstub does not
// describe (segment descriptor caches, LDT, TR, GDT, IDT, debug
// registers) from QEMU's monitor: HMP `info registers -a`, through the
// target's QMP connection (direct, or libvirt's passthrough). It works
// whether the guest runs or not; a running guest's values are a moment's.
func (g *guest) SystemRegisters(ctx context.Context) ([]CPURegisters, error) {
	if g.mon == nil {
		return nil, g.wrap("reading system registers", errNoMonitor)
	}
	regs, err := g.mon.Registers(ctx)
	return regs, g.wrap("reading system registers (info registers -a)", err)
}
