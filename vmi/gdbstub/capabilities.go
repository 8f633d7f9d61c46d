package gdbstub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Accelerator is how QEMU runs the guest. It decides which breakpoints
// work, and the caller supplies it (from QMP query-kvm and the host's CPU
// flags): probing the stub would arm breakpoints in a live guest.
type Accelerator int

const (
	AccelUnknown Accelerator = iota
	// AccelTCG is QEMU's emulator.
	AccelTCG
	// AccelKVM is KVM on a host with vmx or svm.
	AccelKVM
	// AccelKVMNoVirt is KVM on a host without vmx/svm (the kvm_pvm module):
	// the guest runs in KVM's instruction emulator, and a guest that
	// executes a software breakpoint's 0xCC dies with "emulation failure".
	AccelKVMNoVirt
)

func (a Accelerator) String() string {
	switch a {
	case AccelTCG:
		return "TCG"
	case AccelKVM:
		return "KVM"
	case AccelKVMNoVirt:
		return "KVM without vmx/svm"
	}
	return fmt.Sprintf("Accelerator(%d)", int(a))
}

// kvmDebugRegisters is what KVM's hardware breakpoints share: the four
// x86 debug registers, for all vCPUs together (the 5th Z1 gets E22).
const kvmDebugRegisters = 4

// Capabilities say which breakpoints the client may arm. The client checks
// every insert against them before sending anything.
type Capabilities struct {
	Accel Accelerator
	// Software allows Z0.
	Software bool
	// SoftwareVisible: Z0 writes 0xCC into guest memory (KVM), where the
	// guest can see it; under TCG Z0 leaves memory untouched.
	SoftwareVisible bool
	// Hardware allows Z1.
	Hardware bool
	// HardwareSlots bounds the Z1 breakpoints armed at once, across all
	// vCPUs; 0 means no limit.
	HardwareSlots int
	// Watchpoints allows Z2–Z4. Under KVM QEMU accepts them but they never
	// fire, so they are refused rather than silently useless.
	Watchpoints bool
}

// CapabilitiesFor returns what accel allows. allowVisible is the operator's
// consent to Z0 under KVM, where the 0xCC it writes is visible to the guest
// (integrity checks, or the guest's own reads, see it).
func CapabilitiesFor(accel Accelerator, allowVisible bool) (Capabilities, error) {
	switch accel {
	case AccelTCG:
		return Capabilities{Accel: accel, Software: true, Hardware: true, Watchpoints: true}, nil
	case AccelKVM:
		return Capabilities{Accel: accel, Software: allowVisible, SoftwareVisible: true,
			Hardware: true, HardwareSlots: kvmDebugRegisters}, nil
	case AccelKVMNoVirt:
		// Z0 is refused even with consent: the guest would die.
		return Capabilities{Accel: accel, SoftwareVisible: true,
			Hardware: true, HardwareSlots: kvmDebugRegisters}, nil
	}
	return Capabilities{}, fmt.Errorf("gdbstub: no capabilities for %v", accel)
}

// check says whether kind may be inserted; armedHardware counts the Z1
// breakpoints armed now.
func (c Capabilities) check(kind BreakpointKind, armedHardware int) error {
	refuse := func(reason string) error {
		return &CapabilityError{Kind: kind, Accel: c.Accel, Reason: reason}
	}
	switch kind {
	case Software:
		if !c.Software {
			if c.Accel == AccelKVMNoVirt {
				return refuse("the guest dies on the 0xCC under KVM's instruction emulator")
			}
			return refuse("software breakpoints write a visible 0xCC; the operator has not allowed that")
		}
	case Hardware:
		if !c.Hardware {
			return refuse("hardware breakpoints are not available")
		}
		if c.HardwareSlots > 0 && armedHardware >= c.HardwareSlots {
			return fmt.Errorf("gdbstub: %d of %d debug registers in use: %w", armedHardware, c.HardwareSlots, ErrSlotsExhausted)
		}
	case WriteWatch, ReadWatch, AccessWatch:
		if !c.Watchpoints {
			return refuse("the stub accepts watchpoints but they never fire")
		}
	default:
		return fmt.Errorf("gdbstub: unknown breakpoint kind %d", int(kind))
	}
	return nil
}

// KVMFlavor tells AccelKVM from AccelKVMNoVirt by the CPU flags in
// /proc/cpuinfo (pass the file): without vmx or svm, /dev/kvm is backed by
// an emulator (kvm_pvm) on which software breakpoints kill the guest.
func KVMFlavor(cpuinfo io.Reader) (Accelerator, error) {
	sc := bufio.NewScanner(cpuinfo)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seenFlags := false
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		seenFlags = true
		for _, f := range strings.Fields(value) {
			if f == "vmx" || f == "svm" {
				return AccelKVM, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return AccelUnknown, fmt.Errorf("gdbstub: reading cpuinfo: %w", err)
	}
	if !seenFlags {
		return AccelUnknown, errors.New("gdbstub: cpuinfo has no flags line")
	}
	return AccelKVMNoVirt, nil
}
