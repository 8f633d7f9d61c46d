package unwind

import (
	"encoding/binary"
	"fmt"
)

// A model is a function described by what its prologue does. build runs
// it forward on a fake machine, as the processor would, and records, at
// every instruction boundary of the prologue, in the body and at every
// instruction of the epilogue, the registers there; whatever the point,
// unwinding must give back the context at entry (the caller's), which is
// known independently of the unwinder: the test does not trust the
// unwinder to check itself.

const (
	testBase  = 0x1_4000_0000
	rsp0      = 0x7ff0_0000 // RSP at the function's entry
	retAddr   = 0x1_4100_9abc
	tailOut   = testBase + 0x8000 // a tail call target outside every function
	intRIP    = 0x7ff6_1234_5678
	intRSP    = 0x5f_e000
	intCS     = 0x33
	intSS     = 0x2b
	intRFLAGS = 0x246
	intErr    = 0x14
	pBegin    = 0x1000 // the model's RVA
	xdataRVA  = 0x6000
)

type saveOp struct {
	reg int
	off uint32
	far bool
}

type fragModel struct {
	pushes []int
	saves  []saveOp
}

type model struct {
	name    string
	machine int // 0 a call; 1 a machine frame; 2 one with an error code
	pushes  []int
	alloc   uint32
	large1  bool // encode alloc with ALLOC_LARGE's 32-bit form even if it fits the others
	fp      int  // frame register, 0 none
	fpOff   uint8
	saves   []saveOp
	xmm     []saveOp // SAVE_XMM128(_FAR): consume slots, touch no GPR
	version uint8
	dyn     uint64 // alloca in the body (with a frame register)
	end     string // the epilogue's last instruction; "" none
	frag    *fragModel
}

// point is a place to unwind from and what must come out.
type point struct {
	what   string
	regs   Registers
	method Method
	want   Registers
}

type built struct {
	mem    *fakeMem
	fns    *Table
	points []point
	entry  Registers
}

type machine struct {
	r   Registers
	mem *fakeMem
}

func (m *machine) push(v uint64) {
	m.r.GPR[RSP] -= 8
	m.mem.put64(m.r.GPR[RSP], v)
}

// instr is one prologue instruction: its size and unwind code slots.
type instr struct {
	size  int
	slots func(off uint8) []uint16
	run   func(m *machine)
	saved int // the register it saves, -1 none
}

func entryRegs() Registers {
	var r Registers
	for i := range r.GPR {
		r.Set(i, 0x1000_0000_0000+uint64(i)*0x1111_1111)
	}
	r.Set(RSP, rsp0)
	return r
}

func garbage(i int) uint64 { return 0xdead_0000_0000 + uint64(i) }

func (md *model) build() (*built, error) {
	mem := newMem()
	m := &machine{r: entryRegs(), mem: mem}
	entry := m.r
	ver := md.version
	if ver == 0 {
		ver = 1
	}
	// want is the caller's context as far as the prologue has run: a
	// nonvolatile register is always known (restored, or never touched);
	// a volatile one only once the prologue saved it.
	want := Registers{}
	saved := map[int]bool{} // by the primary
	for _, r := range md.pushes {
		saved[r] = true
	}
	for _, s := range md.saves {
		saved[s.reg] = true
	}
	if md.fp != 0 && !saved[md.fp] {
		return nil, fmt.Errorf("model %s: frame register not saved", md.name)
	}
	for r := 0; r < 16; r++ {
		if r != RSP && Volatile&(1<<r) == 0 {
			want.Set(r, entry.GPR[r])
		}
	}
	switch md.machine {
	case 0:
		mem.put64(rsp0, retAddr)
		want.RIP = retAddr
		want.Set(RSP, rsp0+8)
	default:
		q := []uint64{intRIP, intCS, intRFLAGS, intRSP, intSS}
		if md.machine == 2 {
			q = append([]uint64{intErr}, q...)
		}
		for i, v := range q {
			mem.put64(rsp0+uint64(8*i), v)
		}
		want.RIP = intRIP
		want.Set(RSP, intRSP)
	}
	fpSet := false
	base := func() uint64 {
		if fpSet {
			return m.r.GPR[md.fp] - 16*uint64(md.fpOff)
		}
		return m.r.GPR[RSP]
	}

	// The primary's prologue.
	var ins []instr
	if md.machine != 0 {
		ins = append(ins, instr{0, func(off uint8) []uint16 { return []uint16{code(off, opPushMachframe, uint8(md.machine-1))} }, func(*machine) {}, -1})
	}
	ins = append(ins, pushes(md.pushes)...)
	if md.alloc > 0 {
		n := md.alloc
		switch {
		case !md.large1 && n <= 128 && n%8 == 0:
			ins = append(ins, instr{4, func(off uint8) []uint16 { return []uint16{code(off, opAllocSmall, uint8(n/8-1))} }, nil, -1})
		case !md.large1 && n%8 == 0 && n/8 <= 0xffff:
			ins = append(ins, instr{7, func(off uint8) []uint16 { return []uint16{code(off, opAllocLarge, 0), uint16(n / 8)} }, nil, -1})
		default:
			ins = append(ins, instr{7, func(off uint8) []uint16 { return []uint16{code(off, opAllocLarge, 1), uint16(n), uint16(n >> 16)} }, nil, -1})
		}
		ins[len(ins)-1].run = func(m *machine) { m.r.GPR[RSP] -= uint64(n) }
	}
	// A frame register saved by a mov is saved before it is set.
	var fpSaves, otherSaves []saveOp
	for _, s := range md.saves {
		if s.reg == md.fp {
			fpSaves = append(fpSaves, s)
		} else {
			otherSaves = append(otherSaves, s)
		}
	}
	ins = append(ins, saves(fpSaves, base)...)
	if md.fp != 0 {
		ins = append(ins, instr{5, func(off uint8) []uint16 { return []uint16{code(off, opSetFPReg, 0)} },
			func(m *machine) { m.r.Set(md.fp, m.r.GPR[RSP]+16*uint64(md.fpOff)); fpSet = true }, -1})
	}
	ins = append(ins, saves(otherSaves, base)...)
	for i, x := range md.xmm {
		x, i := x, i
		ins = append(ins, instr{6, func(off uint8) []uint16 {
			if x.far {
				return []uint16{code(off, opSaveXMM128Far, uint8(i)), uint16(x.off), uint16(x.off >> 16)}
			}
			return []uint16{code(off, opSaveXMM128, uint8(i)), uint16(x.off / 16)}
		}, func(m *machine) { m.mem.write(base()+uint64(x.off), make([]byte, 16)) }, -1})
	}

	b := &built{mem: mem, entry: entry}
	pStart := uint64(testBase + pBegin)
	m.r.RIP = pStart
	var codes []uint16
	off := 0
	for i, in := range ins {
		b.add(fmt.Sprintf("prologue +%d (before instruction %d)", off, i), m.r, md.machineMethod(), want)
		in.run(m)
		want = wantSaved(want, entry, in.saved)
		off += in.size
		m.r.RIP = pStart + uint64(off)
		codes = append(in.slots(uint8(off)), codes...)
	}
	prolog := off
	if ver == 2 {
		codes = append([]uint16{code(3, opEpilog, 1), code(0, opEpilog, 0)}, codes...)
	}

	// The body: the registers it saved are its own now, the volatile
	// ones are garbage, and a frame register lets it move RSP.
	for r := 0; r < 16; r++ {
		if r != RSP && r != md.fp && (saved[r] || Volatile&(1<<r) != 0) {
			m.r.Set(r, garbage(r))
		}
	}
	if md.dyn != 0 {
		m.r.GPR[RSP] -= md.dyn
	}
	body := pStart + uint64(prolog)
	text := make([]byte, 0, 256)
	for i := 0; i < prolog; i++ {
		text = append(text, 0xcc)
	}
	m.r.RIP = body
	b.add("body", m.r, md.machineMethod(), want)
	text = append(text, 0x90, 0x90, 0x90, 0x90)
	fragAt := uint64(0)
	jmpFrag := -1
	if md.frag != nil {
		jmpFrag = len(text)
		text = append(text, 0xe9, 0, 0, 0, 0) // patched once the fragment is placed
		b.add("jmp to the fragment", withRIP(m.r, pStart+uint64(jmpFrag)), md.machineMethod(), want)
		text = append(text, 0x90)
	}
	bodyState := m.r

	// The epilogue: saved registers restored by movs first, then the
	// epilogue proper, one instruction at a time.
	for _, s := range md.saves {
		m.r.Set(s.reg, entry.GPR[s.reg])
	}
	var epi [][]byte
	var runs []func(m *machine)
	if md.end != "" {
		if md.fp != 0 {
			disp := int64(md.alloc) - 16*int64(md.fpOff)
			ins := []byte{0x48 | byte(md.fp>>3), 0x8d}
			rm := byte(md.fp & 7)
			mod := byte(2)
			if disp >= -128 && disp < 128 {
				mod = 1
			}
			ins = append(ins, mod<<6|4<<3|rm)
			if rm == 4 {
				ins = append(ins, 0x24)
			}
			if mod == 1 {
				ins = append(ins, byte(int8(disp)))
			} else {
				ins = binary.LittleEndian.AppendUint32(ins, uint32(int32(disp)))
			}
			fp := md.fp
			epi = append(epi, ins)
			runs = append(runs, func(m *machine) { m.r.GPR[RSP] = m.r.GPR[fp] + uint64(disp) })
		} else if md.alloc > 0 {
			n := md.alloc
			if n < 128 {
				epi = append(epi, []byte{0x48, 0x83, 0xc4, byte(n)})
			} else {
				epi = append(epi, binary.LittleEndian.AppendUint32([]byte{0x48, 0x81, 0xc4}, n))
			}
			runs = append(runs, func(m *machine) { m.r.GPR[RSP] += uint64(n) })
		}
		for i := len(md.pushes) - 1; i >= 0; i-- {
			r := md.pushes[i]
			ins := []byte{0x58 + byte(r&7)}
			if r >= 8 {
				ins = []byte{0x41, 0x58 + byte(r&7)}
			}
			epi = append(epi, ins)
			runs = append(runs, func(m *machine) {
				v, _ := readQ(m.mem, m.r.GPR[RSP])
				m.r.Set(r, v)
				m.r.GPR[RSP] += 8
			})
		}
		epi = append(epi, nil) // the last instruction, encoded once its address is known
	}
	epiStart := pStart + uint64(len(text))
	at := epiStart
	for i, e := range epi {
		if e == nil {
			e = md.lastInstr(at)
			epi[i] = e
		}
		w := want
		if md.end == "retimm" {
			w.GPR[RSP] += 0x10
		}
		b.add(fmt.Sprintf("epilogue instruction %d (%x)", i, e), withRIP(m.r, at), Epilogue, w)
		if i < len(runs) {
			runs[i](m)
		}
		text = append(text, e...)
		at += uint64(len(e))
	}
	if md.end == "" {
		text = append(text, 0x48, 0xcf) // iretq or whatever: no epilogue form
	}
	pEnd := uint32(pBegin + len(text))

	// Lay out the primary's unwind info, code and function entry.
	var fns []Function
	pInfo := infoBytes(ver, 0, uint8(prolog), uint8(md.fp), md.fpOff, codes)
	p := Function{ImageBase: testBase, Begin: pBegin, End: pEnd, UnwindData: xdataRVA}
	mem.write(testBase+xdataRVA, pInfo)
	fns = append(fns, p)

	if md.frag != nil {
		f := Function{ImageBase: testBase, Begin: (pEnd + 0x1f) &^ 0xf, UnwindData: xdataRVA + 0x400}
		fragAt = testBase + uint64(f.Begin)
		binary.LittleEndian.PutUint32(text[jmpFrag+1:], uint32(int32(fragAt-(pStart+uint64(jmpFrag)+5))))
		// The fragment runs on the body's state.
		m.r = bodyState
		m.r.RIP = fragAt
		fwant := want
		var fins []instr
		fins = append(fins, pushes(md.frag.pushes)...)
		fins = append(fins, saves(md.frag.saves, base)...)
		var fcodes []uint16
		foff := 0
		for _, in := range fins {
			b.add(fmt.Sprintf("fragment prologue +%d", foff), m.r, md.machineMethod(), fwant)
			in.run(m)
			fwant = wantSaved(fwant, entry, in.saved)
			foff += in.size
			m.r.RIP = fragAt + uint64(foff)
			fcodes = append(in.slots(uint8(foff)), fcodes...)
		}
		for _, r := range md.frag.pushes {
			m.r.Set(r, garbage(r))
		}
		for _, s := range md.frag.saves {
			m.r.Set(s.reg, garbage(s.reg))
		}
		ftext := make([]byte, foff)
		for i := range ftext {
			ftext[i] = 0xcc
		}
		b.add("fragment body", m.r, md.machineMethod(), fwant)
		ftext = append(ftext, 0x90, 0x90)
		back := fragAt + uint64(len(ftext))
		b.add("fragment's jmp back", withRIP(m.r, back), md.machineMethod(), fwant)
		ftext = binary.LittleEndian.AppendUint32(append(ftext, 0xe9), uint32(int32(body-(back+5))))
		f.End = f.Begin + uint32(len(ftext))
		mem.write(fragAt, ftext)
		mem.write(testBase+uint64(f.UnwindData),
			infoBytes(1, flagChainInfo, uint8(foff), uint8(md.fp), md.fpOff, fcodes, p.Begin, p.End, p.UnwindData))
		fns = append(fns, f)
	}
	mem.write(pStart, text)
	t, err := NewTable(testBase, fns)
	if err != nil {
		return nil, err
	}
	b.fns = t
	return b, nil
}

func (md *model) machineMethod() Method {
	if md.machine != 0 {
		return MachineFrame
	}
	return Unwound
}

// lastInstr encodes the epilogue's last instruction at address at.
func (md *model) lastInstr(at uint64) []byte {
	switch md.end {
	case "ret":
		return []byte{0xc3}
	case "retimm":
		return []byte{0xc2, 0x10, 0x00}
	case "repret":
		return []byte{0xf3, 0xc3}
	case "jmp32":
		return binary.LittleEndian.AppendUint32([]byte{0xe9}, uint32(int32(tailOut-(at+5))))
	case "jmp8":
		return []byte{0xeb, 0x7f} // past the end of the function
	case "jmpmem":
		return []byte{0xff, 0x25, 0x10, 0x20, 0x00, 0x00}
	case "rexjmp":
		return []byte{0x48, 0xff, 0xe0}
	case "rexjmpmem":
		return []byte{0x48, 0xff, 0x25, 0x10, 0x20, 0x00, 0x00}
	}
	panic("unknown epilogue end " + md.end)
}

func pushes(regs []int) []instr {
	var ins []instr
	for _, r := range regs {
		r := r
		size := 1
		if r >= 8 {
			size = 2
		}
		ins = append(ins, instr{size, func(off uint8) []uint16 { return []uint16{code(off, opPushNonvol, uint8(r))} },
			func(m *machine) { m.push(m.r.GPR[r]) }, r})
	}
	return ins
}

func saves(ss []saveOp, base func() uint64) []instr {
	var ins []instr
	for _, s := range ss {
		s := s
		if s.far {
			ins = append(ins, instr{8, func(off uint8) []uint16 {
				return []uint16{code(off, opSaveNonvolFar, uint8(s.reg)), uint16(s.off), uint16(s.off >> 16)}
			}, nil, s.reg})
		} else {
			ins = append(ins, instr{5, func(off uint8) []uint16 {
				return []uint16{code(off, opSaveNonvol, uint8(s.reg)), uint16(s.off / 8)}
			}, nil, s.reg})
		}
		ins[len(ins)-1].run = func(m *machine) { m.mem.put64(base()+uint64(s.off), m.r.GPR[s.reg]) }
	}
	return ins
}

func wantSaved(want, entry Registers, reg int) Registers {
	if reg >= 0 {
		want.Set(reg, entry.GPR[reg])
	}
	return want
}

func withRIP(r Registers, rip uint64) Registers {
	r.RIP = rip
	return r
}

func (b *built) add(what string, regs Registers, method Method, want Registers) {
	b.points = append(b.points, point{what: what, regs: regs, method: method, want: want})
}

func readQ(m Memory, addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := m.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// diffRegs describes how got differs from want, "" if it does not.
func diffRegs(got, want Registers) string {
	var s string
	if got.RIP != want.RIP {
		s += fmt.Sprintf(" rip %#x want %#x;", got.RIP, want.RIP)
	}
	for i := 0; i < 16; i++ {
		gk, wk := got.IsKnown(i), want.IsKnown(i)
		switch {
		case gk != wk:
			s += fmt.Sprintf(" %s known=%v want %v;", RegName(i), gk, wk)
		case got.GPR[i] != want.GPR[i]:
			s += fmt.Sprintf(" %s %#x want %#x;", RegName(i), got.GPR[i], want.GPR[i])
		}
	}
	return s
}
