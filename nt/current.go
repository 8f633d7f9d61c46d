package nt

import (
	"fmt"
)

// Registers is a stopped vCPU's register snapshot, by the names of QEMU's
// target description (rip, cs, cr3, gs_base, k_gs_base, rsp, rcx, ...).
// vmi's (gdbstub's) Registers satisfies it.
type Registers interface {
	Uint(name string) (uint64, error)
}

// kernelMode reports whether the vCPU was in ring 0: CS's RPL.
func kernelMode(regs Registers) (bool, error) {
	cs, err := regs.Uint("cs")
	if err != nil {
		return false, fmt.Errorf("nt: reading cs: %w", err)
	}
	return cs&3 == 0, nil
}

// KPCR returns the processor control region of the stopped vCPU: GS base
// in kernel mode; in user mode the kernel's GS base waits in
// KernelGSBase until the next swapgs. When the build has _KPCR.Self, the
// choice is checked against it (and the other base tried), which also
// covers a stop between swapgs and the instruction after it.
func (k *Kernel) KPCR(regs Registers) (uint64, error) {
	km, err := kernelMode(regs)
	if err != nil {
		return 0, err
	}
	first, second := "gs_base", "k_gs_base"
	if !km {
		first, second = second, first
	}
	selfOff, selfErr := k.lay.offset("_KPCR.Self")
	var tried []string
	for _, name := range []string{first, second} {
		base, err := regs.Uint(name)
		if err != nil {
			return 0, fmt.Errorf("nt: reading %s: %w", name, err)
		}
		if selfErr != nil {
			return base, nil // nothing to check against
		}
		if base >= 1<<63 {
			self, err := k.pointer("KPCR.Self", base+selfOff)
			if err == nil && self == base {
				return base, nil
			}
		}
		tried = append(tried, fmt.Sprintf("%s=%#x", name, base))
	}
	return 0, fmt.Errorf("nt: no KPCR whose Self points at itself (%v)", tried)
}

// CurrentThread returns the KTHREAD running on the stopped vCPU
// (KPCR → Prcb.CurrentThread): the cheapest identity of a guest thread,
// for matching a break-on-return to its call.
func (k *Kernel) CurrentThread(regs Registers) (uint64, error) {
	kpcr, err := k.KPCR(regs)
	if err != nil {
		return 0, err
	}
	return k.currentThreadOf(kpcr)
}

// currentThreadOf reads Prcb.CurrentThread of a KPCR.
func (k *Kernel) currentThreadOf(kpcr uint64) (uint64, error) {
	off, err := k.lay.offset("_KPCR.Prcb.CurrentThread")
	if err != nil {
		return 0, err
	}
	kthread, err := k.pointer("Prcb.CurrentThread", kpcr+off)
	if err == nil && kthread == 0 {
		err = &WalkError{What: "Prcb.CurrentThread", At: kpcr + off, Err: ErrCorrupt, Msg: "no current thread"}
	}
	return kthread, err
}

// Current is who runs on a vCPU at a stop.
type Current struct {
	KPCR   uint64
	Thread Thread
	// Process owns the thread (_KTHREAD.Process). AddressSpace is the
	// process whose address space is loaded (ApcState.Process): they
	// differ while the thread is attached to another process, and events
	// report both then.
	Process, AddressSpace Process
	CR3                   uint64
}

// Attached reports whether the thread runs attached to another process.
func (c Current) Attached() bool { return c.Process.EPROCESS != c.AddressSpace.EPROCESS }

// Current reads KPCR → Prcb.CurrentThread → the thread's owner and its
// address space.
func (k *Kernel) Current(regs Registers) (Current, error) {
	kpcr, err := k.KPCR(regs)
	if err != nil {
		return Current{}, err
	}
	c := Current{KPCR: kpcr}
	if c.CR3, err = regs.Uint("cr3"); err != nil {
		return c, fmt.Errorf("nt: reading cr3: %w", err)
	}
	kthread, err := k.currentThreadOf(kpcr)
	if err != nil {
		return c, err
	}
	ethread, err := k.ethreadOf(kthread)
	if err != nil {
		return c, err
	}
	if c.Thread, err = k.ThreadAt(ethread); err != nil {
		return c, err
	}
	if c.Process, err = k.ProcessAt(c.Thread.Process); err != nil {
		return c, err
	}
	c.AddressSpace = c.Process
	if c.Thread.Attached() {
		if c.AddressSpace, err = k.ProcessAt(c.Thread.AddressSpace); err != nil {
			return c, err
		}
	}
	return c, nil
}
