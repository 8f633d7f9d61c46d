package vmi

import (
	"context"
	"fmt"
	"os"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/qmp"
)

// accelerator asks QEMU how it runs the guest (query-kvm) and, under KVM,
// the host's CPU flags whether KVM has hardware virtualization behind it.
// Nothing is probed through the stub: a trial breakpoint in a live guest
// is exactly what must not happen on a kvm_pvm host.
func accelerator(ctx context.Context, mon *qmp.Monitor, cpuinfo string) (gdbstub.Accelerator, error) {
	kvm, err := mon.QueryKVM(ctx)
	if err != nil {
		return gdbstub.AccelUnknown, fmt.Errorf("vmi: asking QEMU for its accelerator: %w", err)
	}
	if !kvm.Enabled {
		return gdbstub.AccelTCG, nil
	}
	f, err := os.Open(cpuinfo)
	if err != nil {
		return gdbstub.AccelUnknown, fmt.Errorf("vmi: the guest runs under KVM, and the host's CPU flags decide which breakpoints work: %w", err)
	}
	defer f.Close()
	accel, err := gdbstub.KVMFlavor(f)
	if err != nil {
		return gdbstub.AccelUnknown, fmt.Errorf("vmi: reading %s: %w", cpuinfo, err)
	}
	return accel, nil
}

// capabilities is what the accelerator allows, with the operator's
// consent to visible breakpoints.
func capabilities(ctx context.Context, mon *qmp.Monitor, opt Options) (Capabilities, error) {
	accel, err := accelerator(ctx, mon, opt.cpuInfo())
	if err != nil {
		return Capabilities{}, err
	}
	caps, err := gdbstub.CapabilitiesFor(accel, opt.AllowVisibleBreakpoints)
	if err != nil {
		return Capabilities{}, fmt.Errorf("vmi: %w", err)
	}
	return caps, nil
}
