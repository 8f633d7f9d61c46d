package unwind

import "fmt"

// Memory reads guest virtual memory of one address space. An unreadable
// page is an error, never zeros; a short read without an error is treated
// as one.
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// Function is one RUNTIME_FUNCTION of an image: RVAs relative to
// ImageBase. Begin is inclusive, End exclusive. UnwindData is the RVA of
// the UNWIND_INFO; an odd UnwindData is Windows' indirect form, the RVA
// (minus one) of another RUNTIME_FUNCTION whose unwind data is shared.
type Function struct {
	ImageBase  uint64
	Begin, End uint32
	UnwindData uint32
}

// Start is the function's first address.
func (f Function) Start() uint64 { return f.ImageBase + uint64(f.Begin) }

// Limit is the address just past the function.
func (f Function) Limit() uint64 { return f.ImageBase + uint64(f.End) }

// Contains says whether addr lies in [Start, Limit).
func (f Function) Contains(addr uint64) bool { return addr >= f.Start() && addr < f.Limit() }

// Functions finds the RUNTIME_FUNCTION covering an address. ok=false means
// none: the address is in a leaf function, and Unwind applies the leaf
// rule (the return address is at [RSP]). An implementation that knows the
// address lies in no image at all should return an error instead, so that
// the leaf rule is never applied to an address nobody can vouch for.
type Functions interface {
	FunctionAt(addr uint64) (fn Function, ok bool, err error)
}

// x64 register numbers, as UNWIND_CODE and Registers.GPR use them.
const (
	RAX = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

var regNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// RegName is the conventional name of x64 register number r.
func RegName(r int) string {
	if r < 0 || r >= len(regNames) {
		return fmt.Sprintf("reg%d", r)
	}
	return regNames[r]
}

// Volatile is the Known mask of the registers the Windows x64 calling
// convention lets a callee destroy (RAX, RCX, RDX, R8–R11). A caller's
// value of these is not recoverable from its callee's frame, so an unwind
// step reports them unknown unless an unwind code restored them.
const Volatile uint16 = 1<<RAX | 1<<RCX | 1<<RDX | 1<<R8 | 1<<R9 | 1<<R10 | 1<<R11

// Registers is the integer context of a frame. GPR is indexed by the x64
// register number (RAX … R15); RSP lives in GPR[RSP]. Known has bit n set
// when GPR[n] is known; an unknown register is reported as such (its GPR
// value is zero), never invented.
type Registers struct {
	RIP   uint64
	GPR   [16]uint64
	Known uint16
}

// IsKnown says whether register r is known.
func (r *Registers) IsKnown(reg int) bool { return reg >= 0 && reg < 16 && r.Known&(1<<reg) != 0 }

// Set stores a known value in register reg.
func (r *Registers) Set(reg int, v uint64) {
	r.GPR[reg] = v
	r.Known |= 1 << reg
}

// forget marks the registers of mask unknown and clears their values, so
// a stale callee value cannot be mistaken for the caller's.
func (r *Registers) forget(mask uint16) {
	for i := range r.GPR {
		if mask&(1<<i) != 0 {
			r.GPR[i] = 0
		}
	}
	r.Known &^= mask
}

// Method says how a step recovered its caller.
type Method int

const (
	// Unwound: the function's unwind codes were applied (undoing the
	// prologue, or the part of it that had run), then the return address
	// popped.
	Unwound Method = iota + 1
	// Epilogue: RIP was inside an epilogue that had begun; it was emulated
	// forward to its ret (or tail-call jmp).
	Epilogue
	// Leaf: no RUNTIME_FUNCTION covers RIP: RIP=[RSP], RSP+=8.
	Leaf
	// MachineFrame: the codes end in UWOP_PUSH_MACHFRAME: RIP and RSP come
	// from the machine frame (interrupt, exception, system call), and the
	// caller is an interrupted context, not a call site.
	MachineFrame
)

func (m Method) String() string {
	switch m {
	case Unwound:
		return "unwound"
	case Epilogue:
		return "epilogue"
	case Leaf:
		return "leaf"
	case MachineFrame:
		return "machine-frame"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Machine is the content of a machine frame (what the processor pushes on
// an interrupt or exception, or what a system-call entry builds like it).
type Machine struct {
	RIP, CS, RFLAGS, RSP, SS uint64
	// ErrorCode is set when the frame has one (UWOP_PUSH_MACHFRAME with
	// OpInfo 1); HasErrorCode says so.
	ErrorCode    uint64
	HasErrorCode bool
}

// UserMode says whether the interrupted context ran at CPL 3.
func (m Machine) UserMode() bool { return m.CS&3 == 3 }

// Step is the result of unwinding one frame.
type Step struct {
	// Caller is the context of the caller (or, after a machine frame, of
	// the interrupted code).
	Caller Registers
	Method Method
	// Function is the RUNTIME_FUNCTION that covered the frame's RIP (for
	// chained unwind info, the fragment's own entry); FunctionFound is
	// false for a leaf.
	Function      Function
	FunctionFound bool
	// Interrupted says Caller.RIP is an exact interrupted RIP (after a
	// machine frame), not a return address: the next Unwind takes
	// callSite=false, so its lookup uses RIP itself rather than RIP-1.
	Interrupted bool
	// Machine holds the machine frame when Method is MachineFrame.
	Machine Machine
	// Handler is the RVA of the language-specific handler named by the
	// primary UNWIND_INFO (UNW_FLAG_EHANDLER/UHANDLER), 0 if none;
	// HandlerFlags holds those two flag bits. Informational: Unwind never
	// calls or interprets handlers.
	Handler      uint32
	HandlerFlags uint8
}
