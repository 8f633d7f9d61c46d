package unwind

import (
	"errors"
	"strings"
	"testing"
)

func TestLeaf(t *testing.T) {
	s := newScene(nil)
	st, err := Unwind(s.regs, true, s.mem, fnList{})
	if err != nil {
		t.Fatal(err)
	}
	want := s.regs
	want.forget(Volatile)
	want.RIP, want.GPR[RSP] = retAddr, rsp0+8
	if st.Method != Leaf || st.FunctionFound || st.Interrupted {
		t.Errorf("%+v", st)
	}
	if d := diffRegs(st.Caller, want); d != "" {
		t.Error(d)
	}
}

// TestCallSiteLookup: a return address just past a function that ends in
// a call belongs to that function, not to the next one.
func TestCallSiteLookup(t *testing.T) {
	mem := newMem()
	a := Function{ImageBase: testBase, Begin: 0x1000, End: 0x1010, UnwindData: xdataRVA}
	b := Function{ImageBase: testBase, Begin: 0x1010, End: 0x1020, UnwindData: xdataRVA + 0x10}
	mem.write(testBase+xdataRVA, infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)}))
	mem.write(testBase+xdataRVA+0x10, infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opAllocSmall, 3)}))
	mem.write(testBase+0x1000, repeat(0x90, 0x20))
	for i := uint64(0); i < 8; i++ {
		mem.put64(rsp0+8*i, retAddr+i)
	}
	regs := entryRegs()
	regs.RIP = testBase + 0x1010
	fns, _ := NewTable(testBase, []Function{a, b})

	st, err := Unwind(regs, true, mem, fns)
	if err != nil || st.Function != a || st.Caller.GPR[RBX] != retAddr || st.Caller.RIP != retAddr+1 {
		t.Errorf("call site: %+v, %v; want a's push applied", st, err)
	}
	st, err = Unwind(regs, false, mem, fns)
	if err != nil || st.Function != b || !st.Caller.IsKnown(RBX) || st.Caller.GPR[RBX] != regs.GPR[RBX] {
		t.Errorf("interrupted at b's first byte: %+v, %v; want b's info (and, in its prologue, nothing undone but the return)", st, err)
	}
	if st.Caller.RIP != retAddr || st.Caller.GPR[RSP] != rsp0+8 {
		// At b's first instruction its allocation has not run.
		t.Errorf("in b's prologue: rip %#x rsp %#x", st.Caller.RIP, st.Caller.GPR[RSP])
	}
}

// TestCallSiteInPrologue: a call inside a prologue (to a stack probe,
// before the allocation it probes for) returns to a point where the
// allocation has not run.
func TestCallSiteInPrologue(t *testing.T) {
	// push rbx (1); mov eax, 0x2000 (5: 6); call __chkstk (5: 11); sub rsp, rax (3: 14)
	s := newScene(infoBytes(1, 0, 14, 0, 0, []uint16{code(14, opAllocLarge, 0), 0x2000 / 8, code(1, opPushNonvol, RBX)}))
	s.regs.RIP = testBase + pBegin + 11
	st, err := Unwind(s.regs, true, s.mem, fnList{s.fn})
	if err != nil || st.Caller.GPR[RBX] != retAddr || st.Caller.RIP != retAddr+1 || st.Caller.GPR[RSP] != rsp0+16 {
		t.Errorf("%+v, %v", st, err)
	}
}

// TestCallSiteReadsNoCode: at a call site the unwinder does not look for
// an epilogue, so unreadable code there does not stop it; at the first
// frame it does, and the failure is reported.
func TestCallSiteReadsNoCode(t *testing.T) {
	s := newScene(infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)}))
	s.mem.write(s.regs.RIP, []byte{0x5b, 0xc3}) // pop rbx; ret: what follows a call
	want, err := Unwind(s.regs, true, s.mem, fnList{s.fn})
	if err != nil {
		t.Fatal(err)
	}
	// The same point unwound as an interrupted RIP, by emulation, agrees.
	got, err := s.unwind()
	if err != nil || got.Method != Epilogue || diffRegs(got.Caller, want.Caller) != "" {
		t.Errorf("emulated %+v, %v; codes %+v", got, err, want)
	}
	s.mem.drop(s.regs.RIP)
	if _, err := Unwind(s.regs, true, s.mem, fnList{s.fn}); err != nil {
		t.Errorf("call site with its code unreadable: %v", err)
	}
	var re *ReadError
	if _, err := s.unwind(); !errors.As(err, &re) {
		t.Errorf("first frame with its code unreadable: %v", err)
	}
}

func TestHandler(t *testing.T) {
	s := newScene(infoBytes(1, flagEHandler|flagUHandler, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)}, 0x5550, 0xdead))
	st, err := s.unwind()
	if err != nil || st.Handler != 0x5550 || st.HandlerFlags != flagEHandler|flagUHandler {
		t.Errorf("%+v, %v", st, err)
	}
	// Through a chain, the primary's handler.
	s = newScene(infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2100, xdataRVA+0x40))
	s.mem.write(testBase+xdataRVA+0x40, infoBytes(1, flagEHandler, 0, 0, 0, nil, 0x7770))
	st, err = s.unwind()
	if err != nil || st.Handler != 0x7770 || st.HandlerFlags != flagEHandler {
		t.Errorf("chained: %+v, %v", st, err)
	}
}

// TestIndirect: an odd UnwindData names another RUNTIME_FUNCTION whose
// unwind data and start stand for this one.
func TestIndirect(t *testing.T) {
	s := newScene(infoBytes(1, 0, 6, 0, 0, []uint16{code(6, opAllocSmall, 1), code(2, opPushNonvol, R12)}))
	target := Function{Begin: pBegin, End: pBegin + 0x40, UnwindData: xdataRVA}
	putFn(s.mem, testBase+0x3000, target)
	frag := Function{ImageBase: testBase, Begin: pBegin + 0x40, End: pBegin + 0x100, UnwindData: 0x3001}
	s.regs.RIP = testBase + pBegin + 0x41 // in the fragment: the whole prologue ran
	st, err := Unwind(s.regs, false, s.mem, fnList{frag})
	if err != nil || st.Function != frag || st.Caller.GPR[R12] != retAddr+2 || st.Caller.RIP != retAddr+3 {
		t.Errorf("%+v, %v", st, err)
	}
}

func TestVolatileForgotten(t *testing.T) {
	s := newScene(infoBytes(1, 0, 0, 0, 0, nil))
	st, err := s.unwind()
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 16; r++ {
		vol := Volatile&(1<<r) != 0
		if st.Caller.IsKnown(r) == vol || (vol && st.Caller.GPR[r] != 0) {
			t.Errorf("%s: known=%v value %#x", RegName(r), st.Caller.IsKnown(r), st.Caller.GPR[r])
		}
	}
	// An unknown nonvolatile register stays unknown.
	s.regs.Known &^= 1 << R14
	s.regs.GPR[R14] = 0
	if st, _ := s.unwind(); st.Caller.IsKnown(R14) {
		t.Error("r14 invented")
	}
}

func TestTable(t *testing.T) {
	fns := []Function{{Begin: 0x3000, End: 0x3010, UnwindData: 3}, {Begin: 0x1000, End: 0x1100, UnwindData: 1}, {Begin: 0x1100, End: 0x1200, UnwindData: 2}}
	tb, err := NewTable(testBase, fns)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Len() != 3 || tb.ImageBase() != testBase {
		t.Errorf("len %d base %#x", tb.Len(), tb.ImageBase())
	}
	for _, c := range []struct {
		addr uint64
		ud   uint32
	}{
		{testBase + 0x1000, 1}, {testBase + 0x10ff, 1}, {testBase + 0x1100, 2}, {testBase + 0x11ff, 2},
		{testBase + 0x1200, 0}, {testBase + 0xfff, 0}, {testBase + 0x300f, 3}, {testBase + 0x3010, 0},
		{testBase - 1, 0}, {0, 0}, {testBase + 0x1_0000_1000, 0}, {^uint64(0), 0},
	} {
		f, ok, err := tb.FunctionAt(c.addr)
		if err != nil || ok != (c.ud != 0) || (ok && (f.UnwindData != c.ud || f.ImageBase != testBase)) {
			t.Errorf("%#x: %+v %v %v", c.addr, f, ok, err)
		}
	}
	if _, err := NewTable(0, []Function{{Begin: 0x10, End: 0x20}, {Begin: 0x1f, End: 0x30}}); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlap: %v", err)
	}
	if _, err := NewTable(0, []Function{{Begin: 0x10, End: 0x10}}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if tb, err := NewTable(0, nil); err != nil || tb.Len() != 0 {
		t.Errorf("no functions: %v", err)
	} else if _, ok, _ := tb.FunctionAt(0x10); ok {
		t.Error("found in an empty table")
	}
}
