package breakpoints

import (
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Hit is one stop at a breakpoint, as observers, handlers and subscribers
// see it. It is shared by all of them: treat it, and Regs, as read-only
// (Regs.Clone to edit a copy; stage real edits on a Frame).
type Hit struct {
	// Seq is the target's stop number (vmi.Stop.Seq).
	Seq uint64
	// Time is when Frost saw the stop.
	Time time.Time
	// CPU is the vCPU that hit.
	CPU vmi.CPU
	// Addr is the breakpoint's VA, which is RIP.
	Addr uint64
	// RSP and CR3 as they were at the hit.
	RSP, CR3 uint64
	// Regs is the vCPU's register snapshot taken at the stop.
	Regs *vmi.Registers
	// Thread is the guest thread (its KTHREAD) when Options.Threads could
	// name it; ThreadKnown says whether it could.
	Thread      uint64
	ThreadKnown bool
	// Stop is the target's stop.
	Stop *vmi.Stop
}

// sameThread says whether two hits ran on the same guest thread, as far as
// the manager can tell: the guest thread when both are known, else the
// vCPU and address space.
func (h *Hit) sameThread(o *Hit) bool {
	if h.ThreadKnown && o.ThreadKnown {
		return h.Thread == o.Thread
	}
	return h.CPU == o.CPU && h.CR3&cr3Mask == o.CR3&cr3Mask
}
