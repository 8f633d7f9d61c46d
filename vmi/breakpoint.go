package vmi

import "github.com/frostvmi/frost/vmi/gdbstub"

// BreakpointKind says how a Breakpoint is armed: by QEMU's breakpoint
// (software), by a debug register (hardware), or as a watchpoint.
type BreakpointKind = gdbstub.BreakpointKind

const (
	// SoftwareBreakpoint is QEMU's own breakpoint (Z0). Under TCG it is
	// unlimited and invisible to the guest; under KVM QEMU writes 0xCC
	// into guest memory, which the guest can see (Capabilities say whether
	// it is allowed).
	SoftwareBreakpoint = gdbstub.Software
	// HardwareBreakpoint takes an x86 debug register (Z1): KVM has four,
	// shared by every vCPU.
	HardwareBreakpoint = gdbstub.Hardware
	// WriteWatchpoint, ReadWatchpoint and AccessWatchpoint (Z2-Z4) stop the
	// guest on an access to Size bytes at Addr; a Stop's Watch says which.
	WriteWatchpoint  = gdbstub.WriteWatch
	ReadWatchpoint   = gdbstub.ReadWatch
	AccessWatchpoint = gdbstub.AccessWatch
)

// WatchHit is the watchpoint a Stop reports.
type WatchHit = gdbstub.WatchHit

// Accelerator is how QEMU runs the guest; it decides which breakpoint
// kinds work (see Capabilities).
type Accelerator = gdbstub.Accelerator

const (
	AccelUnknown = gdbstub.AccelUnknown
	// AccelTCG is QEMU's emulator.
	AccelTCG = gdbstub.AccelTCG
	// AccelKVM is KVM on a host with vmx or svm.
	AccelKVM = gdbstub.AccelKVM
	// AccelKVMNoVirt is KVM without vmx/svm (kvm_pvm), where a software
	// breakpoint kills the guest.
	AccelKVMNoVirt = gdbstub.AccelKVMNoVirt
)

// CapabilitiesFor returns what accel allows; allowVisible is the
// operator's consent to software breakpoints the guest can see (KVM). It
// is how a Target decides, and how a fake Target in a test can be given
// the same rules.
func CapabilitiesFor(accel Accelerator, allowVisible bool) (Capabilities, error) {
	return gdbstub.CapabilitiesFor(accel, allowVisible)
}
