package unwind

import (
	"errors"
	"strings"
	"testing"
)

// scene is one function at pBegin (0x100 bytes of nops) whose UNWIND_INFO
// is the given bytes, with a stack at rsp0 holding a return address.
type scene struct {
	mem  *fakeMem
	fn   Function
	regs Registers
}

func newScene(info []byte) *scene {
	mem := newMem()
	mem.write(testBase+xdataRVA, info)
	nops := make([]byte, 0x100)
	for i := range nops {
		nops[i] = 0x90
	}
	mem.write(testBase+pBegin, nops)
	for i := uint64(0); i < 64; i++ {
		mem.put64(rsp0+8*i, retAddr+i)
	}
	regs := entryRegs()
	regs.RIP = testBase + pBegin + 0x80
	return &scene{mem: mem, regs: regs, fn: Function{ImageBase: testBase, Begin: pBegin, End: pBegin + 0x100, UnwindData: xdataRVA}}
}

func (s *scene) unwind() (Step, error) { return Unwind(s.regs, false, s.mem, fnList{s.fn}) }

func TestMalformedUnwindInfo(t *testing.T) {
	const at = testBase + xdataRVA
	cases := []struct {
		name   string
		info   []byte
		setup  func(s *scene)
		addr   uint64
		reason string
	}{
		{name: "version 0", info: infoBytes(0, 0, 0, 0, 0, nil), addr: at, reason: "version 0"},
		{name: "version 3", info: infoBytes(3, 0, 0, 0, 0, nil), addr: at, reason: "version 3"},
		{name: "chain and handler", info: infoBytes(1, flagChainInfo|flagEHandler, 0, 0, 0, nil, 0, 0, 0), addr: at, reason: "handler"},
		{name: "alloc large beyond count", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opAllocLarge, 0)}), addr: at, reason: "slots"},
		{name: "alloc large 32-bit beyond count", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opAllocLarge, 1), 8}), addr: at, reason: "slots"},
		{name: "save far beyond count", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opPushNonvol, RBX), code(3, opSaveNonvolFar, RSI), 1}), addr: at, reason: "code 1"},
		{name: "alloc large opinfo 2", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opAllocLarge, 2), 1, 1}), addr: at, reason: "OpInfo 2"},
		{name: "op 11", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, 11, 0)}), addr: at, reason: "unknown operation 11"},
		{name: "op 15", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(1, opPushNonvol, RBX), code(0, 15, 0)}), addr: at, reason: "code 1: unknown operation 15"},
		{name: "set fpreg without frame register", info: infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opSetFPReg, 0)}), addr: at, reason: "no frame register"},
		{name: "two set fpreg", info: infoBytes(1, 0, 8, RBP, 0, []uint16{code(8, opSetFPReg, 0), code(4, opSetFPReg, 0)}), addr: at, reason: "second"},
		{name: "frame register rsp", info: infoBytes(1, 0, 4, RSP, 1, []uint16{code(4, opSetFPReg, 0)}), addr: at, reason: "frame register rsp"},
		{name: "push rsp", info: infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RSP)}), addr: at, reason: "saves rsp"},
		{name: "save rsp", info: infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opSaveNonvol, RSP), 1}), addr: at, reason: "saves rsp"},
		{name: "machframe opinfo 2", info: infoBytes(1, 0, 0, 0, 0, []uint16{code(0, opPushMachframe, 2)}), addr: at, reason: "OpInfo 2"},
		{name: "code after machframe", info: infoBytes(1, 0, 1, 0, 0, []uint16{code(0, opPushMachframe, 0), code(1, opPushNonvol, RBX)}), addr: at, reason: "follows UWOP_PUSH_MACHFRAME"},
		{name: "machframe in chained info", info: infoBytes(1, flagChainInfo, 0, 0, 0, []uint16{code(0, opPushMachframe, 0)}, pBegin, pBegin+0x100, xdataRVA+0x100),
			addr: at, reason: "chained"},
		{name: "unaligned unwind data", info: nil, setup: func(s *scene) { s.fn.UnwindData = xdataRVA + 2 }, addr: at + 2, reason: "aligned"},
		{name: "chained function empty", info: infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2000, xdataRVA+0x100), addr: at, reason: "empty"},
		{name: "chain to itself", info: infoBytes(1, flagChainInfo, 0, 0, 0, nil, pBegin, pBegin+0x100, xdataRVA), addr: at, reason: "loops"},
		{name: "chain of two that loops", info: infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2100, xdataRVA+0x100),
			setup: func(s *scene) {
				s.mem.write(testBase+xdataRVA+0x100, infoBytes(1, flagChainInfo, 0, 0, 0, nil, pBegin, pBegin+0x100, xdataRVA))
			}, addr: at + 0x100, reason: "loops back to RVA 0x6000"},
		{name: "chain too long", info: infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2100, xdataRVA+0x40),
			setup: func(s *scene) {
				for i := uint32(1); i < 64; i++ {
					s.mem.write(testBase+uint64(xdataRVA+0x40*i), infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2100, xdataRVA+0x40*(i+1)))
				}
			}, addr: at + 0x40*(maxChain-1), reason: "longer than 32"},
		{name: "indirect to indirect", info: nil, setup: func(s *scene) {
			s.fn.UnwindData = 0x3001
			putFn(s.mem, testBase+0x3000, Function{Begin: pBegin, End: pBegin + 0x100, UnwindData: 0x3011})
		}, addr: testBase + 0x3000, reason: "another indirect"},
		{name: "indirect to empty", info: nil, setup: func(s *scene) {
			s.fn.UnwindData = 0x3001
			putFn(s.mem, testBase+0x3000, Function{Begin: pBegin, End: pBegin, UnwindData: xdataRVA})
		}, addr: testBase + 0x3000, reason: "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(c.info)
			if c.setup != nil {
				c.setup(s)
			}
			st, err := s.unwind()
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %+v, %v; want a *FormatError", st, err)
			}
			if fe.Addr != c.addr || !strings.Contains(fe.Error(), c.reason) {
				t.Errorf("%v (at %#x); want at %#x, saying %q", err, fe.Addr, c.addr, c.reason)
			}
			if st != (Step{}) {
				t.Errorf("a failed step returned a caller: %+v", st)
			}
		})
	}
}

func putFn(m *fakeMem, addr uint64, f Function) {
	var b []byte
	for _, v := range []uint32{f.Begin, f.End, f.UnwindData} {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	m.write(addr, b)
}

// shortMem returns fewer bytes than asked, without an error.
type shortMem struct{ Memory }

func (m shortMem) ReadAt(p []byte, addr uint64) (int, error) {
	n, err := m.Memory.ReadAt(p, addr)
	if n > 0 {
		n--
	}
	return n, err
}

func TestReadErrors(t *testing.T) {
	pushRBX := infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)})
	cases := []struct {
		name  string
		info  []byte
		setup func(s *scene) (Memory, Functions, bool)
		addr  uint64
		what  string
	}{
		{name: "UNWIND_INFO header", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			s.mem.drop(testBase + xdataRVA)
			return s.mem, fnList{s.fn}, false
		}, addr: testBase + xdataRVA, what: "UNWIND_INFO header"},
		{name: "codes on the next page", info: nil, setup: func(s *scene) (Memory, Functions, bool) {
			s.fn.UnwindData = xdataRVA + pageSize - 4
			s.mem.write(testBase+uint64(s.fn.UnwindData), infoBytes(1, 0, 1, 0, 0, nil)[:4])
			s.mem.buf(testBase + uint64(s.fn.UnwindData))[2] = 1 // one code, on the absent page
			return s.mem, fnList{s.fn}, false
		}, addr: testBase + xdataRVA + pageSize, what: "UNWIND_INFO codes"},
		{name: "a pushed register", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			s.regs.Set(RSP, 0x9990_0000)
			return s.mem, fnList{s.fn}, false
		}, addr: 0x9990_0000, what: "a pushed register"},
		{name: "the return address", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			s.regs.Set(RSP, rsp0+pageSize-8)
			return s.mem, fnList{s.fn}, false
		}, addr: rsp0 + pageSize, what: "the return address"},
		{name: "a leaf's return address", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			s.regs.Set(RSP, 0x9990_0000)
			return s.mem, fnList{}, false
		}, addr: 0x9990_0000, what: "leaf"},
		{name: "code bytes at the first frame", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			s.mem.drop(s.regs.RIP)
			return s.mem, fnList{s.fn}, false
		}, addr: testBase + pBegin + 0x80, what: "code bytes"},
		{name: "a saved register", info: infoBytes(1, 0, 5, 0, 0, []uint16{code(5, opSaveNonvolFar, RSI), 0, 0x100}), setup: func(s *scene) (Memory, Functions, bool) {
			return s.mem, fnList{s.fn}, false
		}, addr: rsp0 + 0x100_0000, what: "a saved register"},
		{name: "a machine frame", info: infoBytes(1, 0, 0, 0, 0, []uint16{code(0, opPushMachframe, 1)}), setup: func(s *scene) (Memory, Functions, bool) {
			s.regs.Set(RSP, rsp0+pageSize-16)
			return s.mem, fnList{s.fn}, false
		}, addr: rsp0 + pageSize - 16, what: "machine frame"},
		{name: "chained info", info: infoBytes(1, flagChainInfo, 0, 0, 0, nil, 0x2000, 0x2100, 0x7000), setup: func(s *scene) (Memory, Functions, bool) {
			return s.mem, fnList{s.fn}, false
		}, addr: testBase + 0x7000, what: "UNWIND_INFO header"},
		{name: "a short read", info: pushRBX, setup: func(s *scene) (Memory, Functions, bool) {
			return shortMem{s.mem}, fnList{s.fn}, true
		}, addr: testBase + xdataRVA, what: "UNWIND_INFO header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(c.info)
			mem, fns, callSite := c.setup(s)
			st, err := Unwind(s.regs, callSite, mem, fns)
			var re *ReadError
			if !errors.As(err, &re) {
				t.Fatalf("got %+v, %v; want a *ReadError", st, err)
			}
			if re.Addr != c.addr || !strings.Contains(re.What, c.what) {
				t.Errorf("%v; want at %#x reading %q", err, c.addr, c.what)
			}
			if c.name == "a short read" && !errors.Is(err, errShortRead) {
				t.Errorf("%v does not say the read was short", err)
			}
		})
	}
}

func TestUnknownRegisters(t *testing.T) {
	s := newScene(infoBytes(1, 0, 1, 0, 0, []uint16{code(1, opPushNonvol, RBX)}))
	s.regs.Known &^= 1 << RSP
	if _, err := s.unwind(); !errors.Is(err, ErrUnknownRegister) || !strings.Contains(err.Error(), "rsp") {
		t.Errorf("rsp unknown: %v", err)
	}

	// A frame register, needed once the prologue has set it, unknown.
	s = newScene(infoBytes(1, 0, 6, RBP, 1, []uint16{code(6, opSetFPReg, 0), code(1, opPushNonvol, RBP)}))
	s.regs.Known &^= 1 << RBP
	if _, err := s.unwind(); !errors.Is(err, ErrUnknownRegister) || !strings.Contains(err.Error(), "rbp") {
		t.Errorf("frame register unknown: %v", err)
	}
	// Before the SET_FPREG has run, it is not needed.
	s.regs.RIP = testBase + pBegin + 1
	if st, err := s.unwind(); err != nil || st.Caller.GPR[RBP] != retAddr || st.Caller.RIP != retAddr+1 {
		t.Errorf("in the prologue, before SET_FPREG: %+v, %v", st, err)
	}

	// A lea epilogue through an unknown frame register.
	s = newScene(infoBytes(1, 0, 6, RBP, 1, []uint16{code(6, opSetFPReg, 0), code(1, opPushNonvol, RBP)}))
	s.mem.write(s.regs.RIP, []byte{0x48, 0x8d, 0x65, 0xf0, 0x5d, 0xc3}) // lea rsp, [rbp-16]; pop rbp; ret
	s.regs.Known &^= 1 << RBP
	if _, err := s.unwind(); !errors.Is(err, ErrUnknownRegister) || !strings.Contains(err.Error(), "epilogue") {
		t.Errorf("lea epilogue, rbp unknown: %v", err)
	}
}

func TestFunctionLookupErrors(t *testing.T) {
	s := newScene(infoBytes(1, 0, 0, 0, 0, nil))
	boom := errors.New("no image at this address")
	_, err := Unwind(s.regs, true, s.mem, fnFunc(func(uint64) (Function, bool, error) { return Function{}, false, boom }))
	if !errors.Is(err, boom) {
		t.Errorf("lookup error: %v", err)
	}
	var se *StackError
	// An entry that does not cover the address asked for.
	wrong := s.fn
	wrong.Begin = pBegin + 0x90
	if _, err := Unwind(s.regs, false, s.mem, fnFunc(func(uint64) (Function, bool, error) { return wrong, true, nil })); !errors.As(err, &se) {
		t.Errorf("entry not covering rip: %v", err)
	}
	// An empty one.
	wrong = s.fn
	wrong.End = wrong.Begin
	if _, err := Unwind(s.regs, false, s.mem, fnFunc(func(uint64) (Function, bool, error) { return wrong, true, nil })); !errors.As(err, &se) {
		t.Errorf("empty entry: %v", err)
	}
	// A return address of 0.
	s.regs.RIP = 0
	if _, err := Unwind(s.regs, true, s.mem, fnList{s.fn}); !errors.As(err, &se) {
		t.Errorf("return address 0: %v", err)
	}
	// A stack pointer that would wrap.
	s = newScene(infoBytes(1, 0, 4, 0, 0, []uint16{code(4, opAllocLarge, 1), 0xfff0, 0xffff}))
	s.regs.Set(RSP, 0xffff_ffff_ffff_0000)
	if _, err := s.unwind(); !errors.As(err, &se) || !strings.Contains(err.Error(), "wraps") {
		t.Errorf("wrapping rsp: %v", err)
	}
}
