package unwind

import (
	"errors"
	"testing"
)

// FuzzUnwind unwinds one frame over arbitrary unwind data, stack, code and
// registers: an UNWIND_INFO blob (which may chain into itself), the stack
// at RSP, the code at the function's start (RIP lands in it), which
// registers are known, and whether RIP is a call site. Whatever the
// bytes, Unwind must answer or fail with one of its typed errors, never
// panic, never return a caller with a failure, never report an unknown
// register with a value; and an Unwinder reused across calls must agree
// with a fresh one. rbpOff places RBP (a frame register) on the stack.
func FuzzUnwind(f *testing.F) {
	f.Add(infoBytes(1, 0, 6, 0, 0, []uint16{code(6, opAllocSmall, 4), code(2, opPushNonvol, RDI), code(1, opPushNonvol, RSI)}),
		make([]byte, 64), []byte{0x48, 0x83, 0xc4, 0x28, 0x5f, 0x5e, 0xc3}, uint16(6), uint16(0xffff), uint16(0), false)
	f.Fuzz(func(t *testing.T, info, stack, text []byte, ripOff, known, rbpOff uint16, callSite bool) {
		if len(info) > pageSize || len(stack) > 2*pageSize || len(text) > pageSize {
			return
		}
		mem := newMem()
		mem.write(testBase+xdataRVA, info)
		mem.write(rsp0, stack)
		mem.write(testBase+pBegin, text)
		fns := fnList{
			{ImageBase: testBase, Begin: pBegin, End: pBegin + pageSize, UnwindData: xdataRVA},
			{ImageBase: testBase, Begin: 0x3000, End: 0x3100, UnwindData: xdataRVA + 0x40},
		}
		regs := entryRegs()
		regs.GPR[RBP] = rsp0 + uint64(rbpOff)
		regs.Known = known
		regs.forget(^known)
		regs.RIP = testBase + pBegin + uint64(ripOff)%pageSize
		if !callSite {
			regs.RIP = testBase + pBegin + uint64(ripOff)%uint64(len(text)+1)
		}
		st, err := Unwind(regs, callSite, mem, fns)
		var u Unwinder
		_, _ = u.Unwind(regs, !callSite, mem, fns) // leave state behind
		st2, err2 := u.Unwind(regs, callSite, mem, fns)
		if st != st2 || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("a reused Unwinder disagrees: %+v, %v vs %+v, %v", st, err, st2, err2)
		}
		if err != nil {
			var fe *FormatError
			var re *ReadError
			var se *StackError
			if !errors.As(err, &fe) && !errors.As(err, &re) && !errors.As(err, &se) && !errors.Is(err, ErrUnknownRegister) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if st != (Step{}) {
				t.Fatalf("failed with a caller: %+v, %v", st, err)
			}
			return
		}
		if st.Method < Unwound || st.Method > MachineFrame {
			t.Fatalf("method %v", st.Method)
		}
		if st.Interrupted != (st.Method == MachineFrame) || st.FunctionFound != (st.Method != Leaf) {
			t.Fatalf("inconsistent step %+v", st)
		}
		for r := 0; r < 16; r++ {
			if !st.Caller.IsKnown(r) && st.Caller.GPR[r] != 0 {
				t.Fatalf("%s unknown with a value %#x", RegName(r), st.Caller.GPR[r])
			}
		}
		if !st.Caller.IsKnown(RSP) {
			t.Fatalf("caller without rsp: %+v", st)
		}
	})
}
