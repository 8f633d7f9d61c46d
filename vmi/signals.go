package vmi

import "github.com/frostvmi/frost/vmi/gdbstub"

// Why a Stop happened, in its Signal field. QEMU says no more than this:
// a breakpoint hit and a finished step are both SignalTrap, and only the
// one who armed the breakpoint or asked for the step can tell them apart
// (by the instruction pointer). A Stop's Watch, SWBreak and HWBreak say
// more when they are set; Outside marks a SignalInt nobody in Frost asked
// for (an operator's pause).
const (
	// SignalInt: the guest was interrupted (Pause, the attach, an outside
	// pause such as virsh suspend or QMP stop).
	SignalInt = gdbstub.SignalInt
	// SignalTrap: a breakpoint, a watchpoint, or a single-step.
	SignalTrap = gdbstub.SignalTrap
)
