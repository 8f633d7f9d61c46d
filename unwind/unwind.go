package unwind

import (
	"encoding/binary"
	"fmt"
)

// Unwinder holds the buffers of Unwind, so that a walk reuses them: one
// Unwinder unwinds any number of frames, one at a time (it is not safe
// for concurrent use). The zero value is ready.
type Unwinder struct {
	buf        [infoMax]byte
	q          [48]byte
	link       [12]byte
	block      [codeBlockSize]byte
	blockAddr  uint64
	blockValid bool
}

// Unwind computes the caller's context of the frame regs describes.
// callSite says regs.RIP is a return address (every frame but the first,
// and not after a machine frame): then the function is looked up at
// RIP-1, since a call may be the last instruction of a function.
//
// Only the first frame (callSite false) is checked for an epilogue in
// progress: a return address cannot lie inside an epilogue that has begun
// (an epilogue holds no call), so at a call site the codes describe the
// frame exactly, and reading the code bytes there would only add ways to
// fail.
func Unwind(regs Registers, callSite bool, mem Memory, fns Functions) (Step, error) {
	var u Unwinder
	return u.Unwind(regs, callSite, mem, fns)
}

// Unwind is the package's Unwind with this Unwinder's buffers.
func (u *Unwinder) Unwind(regs Registers, callSite bool, mem Memory, fns Functions) (Step, error) {
	u.blockValid = false // the guest may have changed since the last call
	if !regs.IsKnown(RSP) {
		return Step{}, unknownReg(RSP, fmt.Sprintf("unwinding the frame at rip %#x", regs.RIP))
	}
	lookup := regs.RIP
	if callSite {
		if regs.RIP == 0 {
			return Step{}, &StackError{RIP: 0, Reason: "a return address of 0 is no call site"}
		}
		lookup--
	}
	fn, ok, err := fns.FunctionAt(lookup)
	if err != nil {
		return Step{}, fmt.Errorf("unwind: finding the function at %#x: %w", lookup, err)
	}
	var st Step
	c := regs
	c.forget(Volatile)
	if !ok {
		ra, err := u.read64(mem, c.GPR[RSP], "the return address of a leaf function")
		if err != nil {
			return Step{}, err
		}
		c.RIP = ra
		if err := addRSP(&c, 8); err != nil {
			return Step{}, err
		}
		st.Caller, st.Method = c, Leaf
		return st, nil
	}
	if fn.Begin >= fn.End || !fn.Contains(lookup) {
		return Step{}, &StackError{RIP: regs.RIP, Reason: fmt.Sprintf(
			"the function found for %#x is [%#x, %#x)", lookup, fn.Start(), fn.Limit())}
	}
	st.Function, st.FunctionFound = fn, true

	prim, err := u.resolve(mem, fn)
	if err != nil {
		return Step{}, err
	}
	in, err := u.readInfo(mem, prim)
	if err != nil {
		return Step{}, err
	}
	// The offset of RIP in the prologue decides which codes had run. An
	// indirect entry may resolve to a function starting after RIP: then
	// RIP is in a fragment reached after the whole prologue.
	var prologOff uint64
	all := true
	if regs.RIP >= prim.Start() {
		prologOff = regs.RIP - prim.Start()
		all = prologOff >= uint64(in.prologSize)
	}

	if !callSite && all {
		done, err := u.tryEpilogue(&c, &st, regs.RIP, in.frameReg, fn, prim, mem, fns)
		if err != nil {
			return Step{}, err
		}
		if done {
			return st, nil
		}
	}

	var seen [maxChain]uint32
	cur := prim
	machine := false
	for level := 0; ; level++ {
		if level > 0 {
			if in, err = u.readInfo(mem, cur); err != nil {
				return Step{}, err
			}
		}
		m, err := u.applyCodes(&c, &in, all || level > 0, prologOff, mem, &st)
		if err != nil {
			return Step{}, err
		}
		machine = machine || m
		if in.flags&flagChainInfo == 0 {
			st.Handler, st.HandlerFlags = in.handler, in.flags&(flagEHandler|flagUHandler)
			break
		}
		seen[level] = cur.UnwindData
		if level+1 == maxChain {
			return Step{}, formatErr(in.addr, "chained unwind info longer than %d levels", maxChain)
		}
		next, err := u.resolve(mem, in.chained)
		if err != nil {
			return Step{}, err
		}
		for _, s := range seen[:level+1] {
			if s == next.UnwindData {
				return Step{}, formatErr(in.addr, "chained unwind info loops back to RVA %#x", s)
			}
		}
		cur = next
	}
	if machine {
		st.Method, st.Interrupted = MachineFrame, true
	} else {
		ra, err := u.read64(mem, c.GPR[RSP], "the return address")
		if err != nil {
			return Step{}, err
		}
		c.RIP = ra
		if err := addRSP(&c, 8); err != nil {
			return Step{}, err
		}
		st.Method = Unwound
	}
	st.Caller = c
	return st, nil
}

// tryEpilogue checks whether rip is in an epilogue of fn and, if so,
// emulates the rest of it into c. done says it was one.
func (u *Unwinder) tryEpilogue(c *Registers, st *Step, rip uint64, frameReg uint8, fn, prim Function, mem Memory, fns Functions) (done bool, err error) {
	ep, ok, err := u.decodeEpilogue(mem, rip, frameReg)
	if err != nil || !ok {
		return false, err
	}
	if ep.direct {
		out, err := u.leaves(mem, fns, fn, prim, ep.target)
		if err != nil || !out {
			return false, err
		}
	}
	if err := u.runEpilogue(c, &ep, frameReg, mem); err != nil {
		return false, err
	}
	st.Caller, st.Method = *c, Epilogue
	return true, nil
}

// leaves says whether a direct jmp to target leaves the function: a jump
// within the function, or to another fragment of it (split code whose
// unwind info chains to the same primary), is a branch, not a tail call.
func (u *Unwinder) leaves(mem Memory, fns Functions, fn, prim Function, target uint64) (bool, error) {
	if fn.Contains(target) {
		return false, nil
	}
	in, root, err := u.chainContains(mem, prim, target)
	if err != nil || in {
		return false, err
	}
	tfn, ok, err := fns.FunctionAt(target)
	if err != nil || !ok {
		// The target is in no image known, or has no unwind data: it
		// cannot be a fragment of this function, whose image is known
		// and whose fragments all have unwind data.
		return true, nil
	}
	tprim, err := u.resolve(mem, tfn)
	if err != nil {
		return false, err
	}
	_, troot, err := u.chainContains(mem, tprim, target)
	if err != nil {
		return false, err
	}
	return troot != root, nil
}

// chainContains follows the chain of unwind info from f to its primary
// (reading only the chain links), saying whether any function on it
// contains addr, and which function is the primary.
func (u *Unwinder) chainContains(mem Memory, f Function, addr uint64) (in bool, root Function, err error) {
	var seen [maxChain]uint32
	for level := 0; ; level++ {
		if f.Contains(addr) {
			in = true
		}
		if f.UnwindData&3 != 0 {
			return false, f, formatErr(f.ImageBase+uint64(f.UnwindData), "UNWIND_INFO at RVA %#x is not DWORD aligned", f.UnwindData)
		}
		at := f.ImageBase + uint64(f.UnwindData)
		if err := u.read(mem, u.link[:4], at, "UNWIND_INFO header"); err != nil {
			return false, f, err
		}
		if u.link[0]>>3&flagChainInfo == 0 {
			return in, f, nil
		}
		seen[level] = f.UnwindData
		if level+1 == maxChain {
			return false, f, formatErr(at, "chained unwind info longer than %d levels", maxChain)
		}
		tail := at + 4 + 2*uint64((int(u.link[2])+1)&^1)
		if err := u.read(mem, u.link[:], tail, "a chained RUNTIME_FUNCTION"); err != nil {
			return false, f, err
		}
		next := Function{
			ImageBase:  f.ImageBase,
			Begin:      binary.LittleEndian.Uint32(u.link[0:]),
			End:        binary.LittleEndian.Uint32(u.link[4:]),
			UnwindData: binary.LittleEndian.Uint32(u.link[8:]),
		}
		if next, err = u.resolve(mem, next); err != nil {
			return false, f, err
		}
		for _, s := range seen[:level+1] {
			if s == next.UnwindData {
				return false, f, formatErr(at, "chained unwind info loops back to RVA %#x", s)
			}
		}
		f = next
	}
}

// resolve follows Windows' indirect RUNTIME_FUNCTION: an odd UnwindData
// is the RVA (plus one) of another RUNTIME_FUNCTION, whose unwind data
// (and whose start, for prologue offsets) stands for this one. One level
// only: an indirect entry pointing at another is malformed.
func (u *Unwinder) resolve(mem Memory, f Function) (Function, error) {
	if f.UnwindData&1 == 0 {
		return f, nil
	}
	at := f.ImageBase + uint64(f.UnwindData-1)
	if err := u.read(mem, u.link[:], at, "an indirect RUNTIME_FUNCTION"); err != nil {
		return Function{}, err
	}
	t := Function{
		ImageBase:  f.ImageBase,
		Begin:      binary.LittleEndian.Uint32(u.link[0:]),
		End:        binary.LittleEndian.Uint32(u.link[4:]),
		UnwindData: binary.LittleEndian.Uint32(u.link[8:]),
	}
	if t.UnwindData&1 != 0 {
		return Function{}, formatErr(at, "indirect RUNTIME_FUNCTION points at another indirect one")
	}
	if t.Begin >= t.End {
		return Function{}, formatErr(at, "indirect RUNTIME_FUNCTION [%#x, %#x) is empty", t.Begin, t.End)
	}
	return t, nil
}

// read fills p from addr; a short read is an error too.
func (u *Unwinder) read(mem Memory, p []byte, addr uint64, what string) error {
	n, err := mem.ReadAt(p, addr)
	if err == nil && n < len(p) {
		err = errShortRead
	}
	if err != nil {
		return &ReadError{Addr: addr, Len: len(p), What: what, Err: err}
	}
	return nil
}

func (u *Unwinder) read64(mem Memory, addr uint64, what string) (uint64, error) {
	if err := u.read(mem, u.q[:8], addr, what); err != nil {
		return 0, err
	}
	return le64(u.q[:8]), nil
}
