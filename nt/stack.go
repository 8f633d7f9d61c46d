package nt

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/symbols/pe"
	"github.com/frostvmi/frost/unwind"
)

// FrameMethod says how a stack frame was reached from the one before it.
type FrameMethod int

const (
	// MethodContext: the first frame, the vCPU's own registers.
	MethodContext FrameMethod = iota
	// MethodUnwindInfo: the callee's .pdata/.xdata unwind codes.
	MethodUnwindInfo
	// MethodEpilogue: the callee stood in an epilogue, emulated forward.
	MethodEpilogue
	// MethodLeaf: no unwind data covers the callee; its return address
	// was at [rsp].
	MethodLeaf
	// MethodMachineFrame: the callee's unwind data ends in a machine
	// frame (an interrupt, or the system call's trap frame).
	MethodMachineFrame
)

func (m FrameMethod) String() string {
	switch m {
	case MethodContext:
		return "context"
	case MethodUnwindInfo:
		return "unwind info"
	case MethodEpilogue:
		return "epilogue"
	case MethodLeaf:
		return "leaf"
	case MethodMachineFrame:
		return "machine frame"
	}
	return "unknown"
}

// StackFrame is one frame, innermost first.
type StackFrame struct {
	RIP, RSP uint64
	Method   FrameMethod
	Symbol   Symbol
}

// User reports whether the frame runs in user mode.
func (f StackFrame) User() bool { return f.RIP < kernelHalf }

// Stack is an unwound call stack. Err says why the walk stopped before
// the thread's first frame (nil when it got there); Truncated that it
// stopped at the frame limit.
type Stack struct {
	Frames    []StackFrame
	Err       error
	Truncated bool
}

// StackLimit bounds every walk: guest memory decides how deep a stack
// claims to be.
const StackLimit = 256

// Stack unwinds the call stack of a stopped vCPU from regs, reading in
// the address space dtb (the vCPU's CR3). p is the process the vCPU runs
// (nil when unknown: the walk then stops at the first user frame, which
// no module it knows holds). Every caller is found from the modules' unwind
// data, as Windows' own unwinder finds it; frame pointers are never
// trusted. The walk crosses from the kernel into user mode through the
// machine frame the system call's (or an interrupt's) unwind data
// describes, the hardware part of its trap frame. Where the kernel's
// unwind data ends short of user mode the walk stops and says so:
// _KTHREAD.TrapFrame is not a substitute, since only system calls set it
// and an interrupted thread's may be a stale one. max is the frame limit
// (0: 64).
func (s *Symbolizer) Stack(ctx context.Context, dtb uint64, p *Process, regs unwind.Registers, max int) Stack {
	if max <= 0 {
		max = 64
	}
	max = min(max, StackLimit)
	mem := processMemory{k: s.k, dtb: dtb}
	fns := &stackFunctions{s: s, dtb: dtb, p: p}
	var u unwind.Unwinder // reused: no allocation per frame
	var st Stack
	st.Frames = append(st.Frames, s.frame(ctx, dtb, p, regs.RIP, regs.GPR[unwind.RSP], MethodContext))
	callSite := false
	for {
		if err := ctx.Err(); err != nil {
			st.Err = err
			return st
		}
		if len(st.Frames) >= max {
			st.Truncated = true
			return st
		}
		cur := st.Frames[len(st.Frames)-1]
		step, err := u.Unwind(regs, callSite, mem, fns)
		if err != nil {
			st.Err = fmt.Errorf("finding the caller of frame %d (%s): %w", len(st.Frames)-1, cur.Symbol, err)
			return st
		}
		next := step.Caller
		rip, rsp := next.RIP, next.GPR[unwind.RSP]
		if rip == 0 {
			return st // the thread's first frame: its return address slot is 0
		}
		if !canonical(rip) {
			st.Err = fmt.Errorf("frame %d (%s) returns to %#x, which is not a canonical address", len(st.Frames)-1, cur.Symbol, rip)
			return st
		}
		method := frameMethod(step.Method)
		crossed := cur.User() != (rip < kernelHalf)
		switch {
		case crossed && cur.User():
			st.Err = fmt.Errorf("frame %d (%s) returns into the kernel at %#x: user code cannot", len(st.Frames)-1, cur.Symbol, rip)
			return st
		case crossed && method != MethodMachineFrame:
			st.Err = fmt.Errorf("frame %d (%s) returns into user mode at %#x without a machine frame", len(st.Frames)-1, cur.Symbol, rip)
			return st
		case !crossed && method != MethodMachineFrame && rsp <= cur.RSP:
			// A machine frame may switch stacks (an interrupt on its own
			// stack); any other caller's frame lies above its callee's.
			st.Err = fmt.Errorf("frame %d (%s): its caller's stack pointer %#x is not above its own %#x", len(st.Frames)-1, cur.Symbol, rsp, cur.RSP)
			return st
		}
		f := s.frame(ctx, dtb, p, rip, rsp, method)
		st.Frames = append(st.Frames, f)
		if !f.Symbol.InModule() {
			// No module, so no unwind data: the leaf rule would guess.
			st.Err = fmt.Errorf("frame %d at %#x lies in no loaded module, so its caller cannot be found from unwind data", len(st.Frames)-1, rip)
			return st
		}
		regs, callSite = next, !step.Interrupted
	}
}

func (s *Symbolizer) frame(ctx context.Context, dtb uint64, p *Process, rip, rsp uint64, m FrameMethod) StackFrame {
	sym, _ := s.Lookup(ctx, dtb, p, rip)
	return StackFrame{RIP: rip, RSP: rsp, Method: m, Symbol: sym}
}

func frameMethod(m unwind.Method) FrameMethod {
	switch m {
	case unwind.Epilogue:
		return MethodEpilogue
	case unwind.Leaf:
		return MethodLeaf
	case unwind.MachineFrame:
		return MethodMachineFrame
	}
	return MethodUnwindInfo
}

// stackFunctions finds the RUNTIME_FUNCTION covering an address in the
// image that holds it. An address in no image has none (a leaf: only the
// first frame is unwound so, the walk stops at any later one); an image
// whose exception directory cannot be read is an error, since guessing a
// leaf there would invent a caller.
type stackFunctions struct {
	s   *Symbolizer
	dtb uint64
	p   *Process
}

func (f *stackFunctions) FunctionAt(addr uint64) (unwind.Function, bool, error) {
	m, ok, err := f.s.ImageAt(f.p, addr)
	if !ok {
		if err != nil {
			return unwind.Function{}, false, fmt.Errorf("no module list to find %#x in: %w", addr, err)
		}
		return unwind.Function{}, false, nil
	}
	table, err := f.s.RuntimeFunctions(f.dtb, m)
	if errors.Is(err, pe.ErrNoDirectory) {
		return unwind.Function{}, false, nil // an image without .pdata: all leaves
	}
	if err != nil {
		return unwind.Function{}, false, fmt.Errorf("the exception directory of %s: %w", m.Name, err)
	}
	rf, ok := pe.FunctionAt(table, uint32(addr-m.Base))
	if !ok {
		return unwind.Function{}, false, nil
	}
	return unwind.Function{ImageBase: m.Base, Begin: rf.Begin, End: rf.End, UnwindData: rf.UnwindData}, true, nil
}

// gprNames are the x64 general registers by number, as QEMU's target
// description names them.
var gprNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// UnwindRegisters is a vCPU's integer context for the unwinder. RIP and
// RSP are required; another register the snapshot lacks is marked
// unknown, never made up.
func UnwindRegisters(r Registers) (unwind.Registers, error) {
	var out unwind.Registers
	var err error
	if out.RIP, err = r.Uint("rip"); err != nil {
		return out, fmt.Errorf("nt: reading rip: %w", err)
	}
	for i, n := range gprNames {
		v, err := r.Uint(n)
		if err != nil {
			if i == unwind.RSP {
				return out, fmt.Errorf("nt: reading rsp: %w", err)
			}
			continue
		}
		out.GPR[i] = v
		out.Known |= 1 << i
	}
	return out, nil
}
