package unwind

import "testing"

// TestNotEpilogues: instruction streams that look like epilogues but are
// not one of the allowed forms; the unwinder must apply the codes (a push
// of rbx here) instead of emulating them.
func TestNotEpilogues(t *testing.T) {
	info := infoBytes(1, 0, 1, RBP, 0, []uint16{code(1, opPushNonvol, RBX)})
	cases := []struct {
		name string
		code []byte
	}{
		{"jmp rel8 within the function", []byte{0x5b, 0xeb, 0x10}},
		{"jmp rel32 within the function", []byte{0xe9, 0x10, 0, 0, 0}},
		{"jmp rax without rex.w (a switch table)", []byte{0xff, 0xe0}},
		{"jmp [abs] without rex.w", []byte{0xff, 0x24, 0x25, 0, 0x10, 0, 0}},
		{"call, not jmp (FF /2)", []byte{0x48, 0xff, 0xd0}},
		{"lea rsp from a register other than the frame register", []byte{0x48, 0x8d, 0x63, 0x08, 0xc3}},
		{"lea rsp with an index", []byte{0x48, 0x8d, 0x64, 0x0c, 0x08, 0xc3}},
		{"lea rsp rip-relative", []byte{0x48, 0x8d, 0x25, 0, 0, 0, 0, 0xc3}},
		{"lea of another register", []byte{0x48, 0x8d, 0x45, 0x08, 0xc3}},
		{"add rsp of a negative", []byte{0x48, 0x83, 0xc4, 0xf8, 0xc3}},
		{"add r12 (rex.b)", []byte{0x49, 0x83, 0xc4, 0x08, 0xc3}},
		{"add to another register", []byte{0x48, 0x83, 0xc0, 0x08, 0xc3}},
		{"sub rsp", []byte{0x48, 0x83, 0xec, 0x08, 0xc3}},
		{"two adjustments", []byte{0x48, 0x83, 0xc4, 0x08, 0x48, 0x83, 0xc4, 0x08, 0xc3}},
		{"pop rsp", []byte{0x5c, 0xc3}},
		{"a nop between pop and ret", []byte{0x5b, 0x90, 0xc3}},
		{"rex ret", []byte{0x48, 0xc3}},
		{"rep then not ret", []byte{0xf3, 0x90}},
		{"seventeen pops", append(repeat(0x5b, 17), 0xc3)},
		{"a mov", []byte{0x48, 0x89, 0xc3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(info)
			s.mem.write(s.regs.RIP, c.code)
			st, err := s.unwind()
			if err != nil {
				t.Fatal(err)
			}
			if st.Method != Unwound || st.Caller.GPR[RBX] != retAddr || st.Caller.RIP != retAddr+1 || st.Caller.GPR[RSP] != rsp0+16 {
				t.Errorf("got %v, rip %#x rbx %#x rsp %#x; want the codes applied", st.Method, st.Caller.RIP, st.Caller.GPR[RBX], st.Caller.GPR[RSP])
			}
		})
	}
}

func repeat(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// TestEpilogueForms: each allowed form, emulated from its first
// instruction; the stack holds retAddr+i at rsp0+8i.
func TestEpilogueForms(t *testing.T) {
	cases := []struct {
		name     string
		frameReg uint8
		code     []byte
		setup    func(r *Registers)
		rip, rsp uint64
		regs     map[int]uint64
	}{
		{name: "add imm8, pop, ret", code: []byte{0x48, 0x83, 0xc4, 0x10, 0x5b, 0xc3}, rip: retAddr + 3, rsp: rsp0 + 32, regs: map[int]uint64{RBX: retAddr + 2}},
		{name: "add imm32, pops with rex, ret", code: []byte{0x48, 0x81, 0xc4, 0x08, 0, 0, 0, 0x41, 0x5f, 0x41, 0x5c, 0xc3},
			rip: retAddr + 3, rsp: rsp0 + 32, regs: map[int]uint64{R15: retAddr + 1, R12: retAddr + 2}},
		{name: "pop with rex.w", code: []byte{0x48, 0x5e, 0x49, 0x5d, 0xc3}, rip: retAddr + 2, rsp: rsp0 + 24, regs: map[int]uint64{RSI: retAddr, R13: retAddr + 1}},
		{name: "lea rbp disp8", frameReg: RBP, code: []byte{0x48, 0x8d, 0x65, 0x08, 0x5d, 0xc3},
			setup: func(r *Registers) { r.Set(RBP, rsp0) }, rip: retAddr + 2, rsp: rsp0 + 24, regs: map[int]uint64{RBP: retAddr + 1}},
		{name: "lea r13 disp32", frameReg: R13, code: []byte{0x49, 0x8d, 0xa5, 0x00, 0x01, 0, 0, 0xc3},
			setup: func(r *Registers) { r.Set(R13, rsp0-0x100) }, rip: retAddr, rsp: rsp0 + 8},
		{name: "lea r12 with SIB, negative disp8", frameReg: R12, code: []byte{0x49, 0x8d, 0x64, 0x24, 0xf0, 0xc3},
			setup: func(r *Registers) { r.Set(R12, rsp0+16) }, rip: retAddr, rsp: rsp0 + 8},
		{name: "ret imm16", code: []byte{0xc2, 0x20, 0x00}, rip: retAddr, rsp: rsp0 + 8 + 0x20},
		{name: "rep ret", code: []byte{0xf3, 0xc3}, rip: retAddr, rsp: rsp0 + 8},
		{name: "a bare jmp out", code: []byte{0xe9, 0x00, 0x10, 0x00, 0x00}, rip: retAddr, rsp: rsp0 + 8},
		{name: "pops then rex.w jmp [rax+8]", code: []byte{0x5f, 0x48, 0xff, 0x60, 0x08}, rip: retAddr + 1, rsp: rsp0 + 16, regs: map[int]uint64{RDI: retAddr}},
		{name: "pop of a volatile register", code: []byte{0x59, 0xc3}, rip: retAddr + 1, rsp: rsp0 + 16, regs: map[int]uint64{RCX: retAddr}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(infoBytes(1, 0, 0, c.frameReg, 0, nil))
			s.mem.write(s.regs.RIP, c.code)
			if c.setup != nil {
				c.setup(&s.regs)
			}
			st, err := s.unwind()
			if err != nil {
				t.Fatal(err)
			}
			want := s.regs
			want.forget(Volatile)
			want.RIP = c.rip
			want.GPR[RSP] = c.rsp
			for r, v := range c.regs {
				want.Set(r, v)
			}
			if st.Method != Epilogue {
				t.Errorf("method %v", st.Method)
			}
			if d := diffRegs(st.Caller, want); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestTailCallToAnotherFunction: a jmp to another function of the table
// (not a fragment of this one) is a tail call.
func TestTailCallToAnotherFunction(t *testing.T) {
	s := newScene(infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)}))
	other := Function{ImageBase: testBase, Begin: 0x2000, End: 0x2100, UnwindData: xdataRVA + 0x100}
	s.mem.write(testBase+xdataRVA+0x100, infoBytes(1, 0, 0, 0, 0, nil))
	jmp := uint64(testBase + pBegin + 0x80)
	s.mem.write(jmp, []byte{0xe9, 0x7b, 0x0f, 0, 0}) // to 0x2000
	st, err := Unwind(s.regs, false, s.mem, fnList{s.fn, other})
	if err != nil || st.Method != Epilogue || st.Caller.RIP != retAddr || st.Caller.GPR[RSP] != rsp0+8 {
		t.Errorf("%+v, %v", st, err)
	}
}
