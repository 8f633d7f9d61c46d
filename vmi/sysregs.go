package vmi

import (
	"context"
	"errors"

	"github.com/frostvmi/frost/vmi/qmp"
)

var errNoMonitor = errors.New("no QEMU monitor")

// SystemRegisters reads every vCPU's state that QEMU's gdbstub does not
// describe (segment descriptor caches, LDT, TR, GDT, IDT, debug
// registers) from QEMU's monitor: HMP `info registers -a`, through the
// target's QMP connection (direct, or libvirt's passthrough). It works
// whether the guest runs or not; a running guest's values are a moment's.
func (g *guest) SystemRegisters(ctx context.Context) ([]qmp.CPURegisters, error) {
	if g.mon == nil {
		return nil, g.wrap("reading system registers", errNoMonitor)
	}
	regs, err := g.mon.Registers(ctx)
	return regs, g.wrap("reading system registers (info registers -a)", err)
}
