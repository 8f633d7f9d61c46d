package unwind

import (
	"errors"
	"fmt"
	"testing"
)

// chainSpecs are six functions of one image, innermost first: a call
// chain chainSpecs[5] → … → chainSpecs[0], stopped in the last one's
// body.
var chainSpecs = []model{
	{pushes: []int{RBX, RSI}, alloc: 0x28},
	{pushes: []int{RBP, RDI}, alloc: 0x40, fp: RBP, fpOff: 2, dyn: 0x60},
	{alloc: 0x38, saves: []saveOp{{R12, 0x30, false}, {R13, 0x28, false}}},
	{pushes: []int{R14, R15, RBX}, alloc: 0x1000},
	{},
	{pushes: []int{RBP, RBX, RSI, RDI, R12, R13, R14, R15}, alloc: 0x88, fp: RBP, fpOff: 0, saves: []saveOp{{R12, 0x80, false}}},
}

// buildChain lays out the functions and runs the chain forward from the
// outermost one (whose return address is 0, as a thread's first frame's
// is). frames[0] is the stopped context; frames[i+1] is the context at
// the call site in the caller of frame i, as its unwinding must give it
// back: nonvolatile registers known with their values at the call,
// volatile ones unknown.
func buildChain(specs []model) (*fakeMem, *Table, []Registers) {
	mem := newMem()
	m := &machine{r: entryRegs(), mem: mem}
	mem.put64(rsp0, 0)
	var fns []Function
	frames := make([]Registers, len(specs)+1)
	outer := m.r
	outer.forget(Volatile)
	outer.RIP = 0
	outer.GPR[RSP] = rsp0 + 8
	frames[len(specs)] = outer
	for i := len(specs) - 1; i >= 0; i-- {
		md := specs[i]
		begin := uint32(0x1000 + 0x100*i)
		start := testBase + uint64(begin)
		fpSet := false
		base := func() uint64 {
			if fpSet {
				return m.r.GPR[md.fp] - 16*uint64(md.fpOff)
			}
			return m.r.GPR[RSP]
		}
		ins := pushes(md.pushes)
		if md.alloc > 0 {
			n := md.alloc
			if n <= 128 {
				ins = append(ins, instr{4, func(off uint8) []uint16 { return []uint16{code(off, opAllocSmall, uint8(n/8-1))} },
					func(m *machine) { m.r.GPR[RSP] -= uint64(n) }, -1})
			} else {
				ins = append(ins, instr{7, func(off uint8) []uint16 { return []uint16{code(off, opAllocLarge, 0), uint16(n / 8)} },
					func(m *machine) { m.r.GPR[RSP] -= uint64(n) }, -1})
			}
		}
		if md.fp != 0 {
			ins = append(ins, instr{5, func(off uint8) []uint16 { return []uint16{code(off, opSetFPReg, 0)} },
				func(m *machine) { m.r.Set(md.fp, m.r.GPR[RSP]+16*uint64(md.fpOff)); fpSet = true }, -1})
		}
		ins = append(ins, saves(md.saves, base)...)
		var codes []uint16
		off := 0
		for _, in := range ins {
			in.run(m)
			off += in.size
			codes = append(in.slots(uint8(off)), codes...)
		}
		info := uint32(xdataRVA + 0x80*i)
		mem.write(testBase+uint64(info), infoBytes(1, 0, uint8(off), uint8(md.fp), md.fpOff, codes))
		mem.write(start, repeat(0x90, 0x100))
		fns = append(fns, Function{Begin: begin, End: begin + 0x100, UnwindData: info})
		// The body uses what it saved; volatile registers are garbage.
		for r := 0; r < 16; r++ {
			saved := false
			for _, p := range md.pushes {
				saved = saved || p == r
			}
			for _, s := range md.saves {
				saved = saved || s.reg == r
			}
			if r != RSP && r != md.fp && (saved || Volatile&(1<<r) != 0) {
				m.r.Set(r, garbage(r)+uint64(i)<<32)
			}
		}
		m.r.GPR[RSP] -= md.dyn
		body := start + uint64(off)
		if i == 0 {
			m.r.RIP = body + 2
			frames[0] = m.r
			break
		}
		ra := body + 5 // after a call at the body's start
		call := m.r
		call.forget(Volatile)
		call.RIP = ra
		frames[i] = call
		m.push(ra)
	}
	t, err := NewTable(testBase, fns)
	if err != nil {
		panic(err)
	}
	return mem, t, frames
}

// failAbove fails every read at or above an address.
type failAbove struct {
	Memory
	limit uint64
}

func (m failAbove) ReadAt(p []byte, addr uint64) (int, error) {
	if addr+uint64(len(p)) > m.limit && addr < rsp0+pageSize {
		return 0, errors.New("unreadable")
	}
	return m.Memory.ReadAt(p, addr)
}

func TestWalk(t *testing.T) {
	mem, fns, frames := buildChain(chainSpecs)
	steps, err := Walk(frames[0], mem, fns, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != len(chainSpecs) {
		t.Fatalf("%d steps, want %d", len(steps), len(chainSpecs))
	}
	for i, st := range steps {
		if d := diffRegs(st.Caller, frames[i+1]); d != "" {
			t.Errorf("step %d:%s", i, d)
		}
		if want := uint32(0x1000 + 0x100*i); !st.FunctionFound || st.Function.Begin != want || st.Method != Unwound {
			t.Errorf("step %d: %v function %+v", i, st.Method, st.Function)
		}
	}
	// A walk cut short is not an error.
	if steps, err := Walk(frames[0], mem, fns, 3); err != nil || len(steps) != 3 {
		t.Errorf("max 3: %d steps, %v", len(steps), err)
	}
	// A frame failing midway: the steps before it come back with the error.
	steps, err = Walk(frames[0], failAbove{mem, frames[3].GPR[RSP]}, fns, 64)
	var re *ReadError
	if !errors.As(err, &re) || re.Addr < frames[3].GPR[RSP] || len(steps) != 3 {
		t.Errorf("with the stack unreadable from frame 3 on: %d steps, %v", len(steps), err)
	}
}

// TestWalkStackMustGrow: a caller whose RSP is not above its callee's is
// corrupt (a loop), unless a machine frame switched stacks.
func TestWalkStackMustGrow(t *testing.T) {
	s := newScene(infoBytes(1, 0, 4, RBP, 0, []uint16{code(4, opSetFPReg, 0)}))
	s.regs.Set(RBP, rsp0-0x100)
	s.mem.put64(rsp0-0x100, retAddr)
	var se *StackError
	if steps, err := Walk(s.regs, s.mem, fnList{s.fn}, 8); !errors.As(err, &se) || len(steps) != 1 {
		t.Errorf("%d steps, %v", len(steps), err)
	}

	// From a kernel stack at rsp0 to a user stack far below: fine.
	s = newScene(infoBytes(1, 0, 0, 0, 0, []uint16{code(0, opPushMachframe, 0)}))
	for i, v := range []uint64{intRIP, intCS, intRFLAGS, intRSP, intSS} {
		s.mem.put64(rsp0+uint64(8*i), v)
	}
	s.mem.put64(intRSP, 0) // the interrupted leaf returns nowhere
	steps, err := Walk(s.regs, s.mem, fnList{s.fn}, 8)
	if err != nil || len(steps) != 2 || steps[0].Method != MachineFrame || steps[1].Method != Leaf || steps[1].Caller.RIP != 0 {
		t.Errorf("%+v, %v", steps, err)
	}
}

// BenchmarkUnwind unwinds the six-frame chain; ns/frame is per Unwind.
func BenchmarkUnwind(b *testing.B) {
	mem, fns, frames := buildChain(chainSpecs)
	n := len(chainSpecs)
	b.Run("Unwinder", func(b *testing.B) {
		var u Unwinder
		b.ReportAllocs()
		for b.Loop() {
			regs, callSite := frames[0], false
			for i := 0; i < n; i++ {
				st, err := u.Unwind(regs, callSite, mem, fns)
				if err != nil {
					b.Fatal(err)
				}
				regs, callSite = st.Caller, true
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
	})
	b.Run("Unwind", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			regs, callSite := frames[0], false
			for i := 0; i < n; i++ {
				st, err := Unwind(regs, callSite, mem, fns)
				if err != nil {
					b.Fatal(err)
				}
				regs, callSite = st.Caller, true
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
	})
	b.Run("Walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if steps, err := Walk(frames[0], mem, fns, 64); err != nil || len(steps) != n {
				b.Fatal(fmt.Sprint(len(steps), err))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
	})
}
