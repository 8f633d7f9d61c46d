package minint

import (
	"fmt"
	"strconv"
	"strings"
)

// The call chains the guest records itself, without unwinding (issue 16's
// call-stack test; guest README "Call stacks"): stack events, printed by
// the kernel for writer.exe's write StackWriteCount at nt!NtWriteFile and
// at nt!FsWrite below it. Every write of writer.exe takes the same path,
// so the chain, and every stack pointer on it, is the same at every write.

// StackWriteCount is the writer.exe write whose chain the guest reports.
const StackWriteCount = 3

// maxStackFrames bounds a stack event's frame list: the guest's chains
// are far shorter (its record holds 16 user frames plus 5).
const maxStackFrames = 64

// Stack is one stack event.
type Stack struct {
	// At is the kernel function the chain starts in, where a breakpoint
	// would sit: NtWriteFile or FsWrite.
	At       string
	PID, TID uint64
	// Count is writer.exe's count of the write.
	Count uint64
	// SP is rsp at At's first instruction: the address of its return
	// address.
	SP uint64
	// StackBase and StackLimit bound the thread's kernel stack.
	StackBase, StackLimit uint64
	// UserSP is the user rsp at the syscall (the trap frame's Rsp).
	UserSP uint64
	// UserStackBase and UserStackLimit bound the thread's user stack (its
	// TEB's NtTib).
	UserStackBase, UserStackLimit uint64
	// End is what the thread's first frame found in its return-address
	// slot: 0, the end of the stack, where an unwinder stops after the
	// last frame.
	End uint64
	// Frames is the chain as a debugger shows it, innermost first:
	// Frames[0] is At's first instruction, then each next frame's RIP:
	// return addresses as they are, and the user RIP after the syscall
	// (in the ntdll stub) where the chain crosses into user mode.
	Frames []uint64
}

// Kernel returns the frames in the kernel half, the innermost part of the
// chain.
func (s Stack) Kernel() []uint64 {
	n := 0
	for n < len(s.Frames) && s.Frames[n] >= kernelHalf {
		n++
	}
	return s.Frames[:n]
}

// User returns the frames after the kernel ones: from the user RIP after
// the syscall to the thread's first frame.
func (s Stack) User() []uint64 { return s.Frames[len(s.Kernel()):] }

// ParseStack reads a stack event. The frames must be nonzero hexadecimal
// addresses, kernel ones first and user ones after: anything else is a
// guest bug the call-stack test must not compare against.
func ParseStack(e Event) (Stack, error) {
	if e.Name != "stack" {
		return Stack{}, fmt.Errorf("minint: %s event is not a stack event: %q", e.Name, e.Line)
	}
	s := Stack{At: e.Get("at")}
	if s.At == "" {
		return Stack{}, fmt.Errorf("minint: stack event without at=: %q", e.Line)
	}
	if err := uints(e, map[string]*uint64{
		"pid": &s.PID, "tid": &s.TID, "count": &s.Count, "sp": &s.SP, "stack-base": &s.StackBase,
		"stack-limit": &s.StackLimit, "user-sp": &s.UserSP, "user-stack-base": &s.UserStackBase,
		"user-stack-limit": &s.UserStackLimit, "end": &s.End,
	}); err != nil {
		return Stack{}, err
	}
	frames, ok := e.Fields["frames"]
	if !ok || frames == "" {
		return Stack{}, fmt.Errorf("minint: stack event without frames: %q", e.Line)
	}
	list := strings.Split(frames, ",")
	if len(list) > maxStackFrames {
		return Stack{}, fmt.Errorf("minint: stack event with %d frames, more than %d: %q", len(list), maxStackFrames, e.Line)
	}
	for i, f := range list {
		hex, ok := strings.CutPrefix(f, "0x")
		v, err := strconv.ParseUint(hex, 16, 64)
		if !ok || err != nil || v == 0 {
			return Stack{}, fmt.Errorf("minint: stack frame %d %q is not a nonzero 0x address: %q", i, f, e.Line)
		}
		s.Frames = append(s.Frames, v)
	}
	if k := len(s.Kernel()); k == 0 || k == len(s.Frames) {
		return Stack{}, fmt.Errorf("minint: stack event with %d kernel frames of %d, want kernel frames then user ones: %q",
			k, len(s.Frames), e.Line)
	}
	for _, f := range s.User() {
		if f >= kernelHalf {
			return Stack{}, fmt.Errorf("minint: stack event with a kernel frame %#x after user ones: %q", f, e.Line)
		}
	}
	return s, nil
}

// Stacks returns every stack event, in report order.
func (r Report) Stacks() ([]Stack, error) {
	var out []Stack
	for _, e := range r.All("stack") {
		s, err := ParseStack(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Stack returns the one stack event at function at for write count.
func (r Report) Stack(at string, count uint64) (Stack, error) {
	all, err := r.Stacks()
	if err != nil {
		return Stack{}, err
	}
	var found []Stack
	for _, s := range all {
		if s.At == at && s.Count == count {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return Stack{}, fmt.Errorf("minint: the report has %d stack events at %s for count %d, want 1", len(found), at, count)
	}
	return found[0], nil
}
