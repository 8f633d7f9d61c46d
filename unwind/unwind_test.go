package unwind

import (
	"math/rand"
	"testing"
)

var models = []model{
	{name: "frameless leaf with unwind info", end: "ret"},
	{name: "pushes", pushes: []int{RBX, RBP, RSI, RDI, R12, R13, R14, R15}, end: "ret"},
	{name: "pushes and a small allocation", pushes: []int{RDI, RSI}, alloc: 0x28, end: "ret"},
	{name: "allocation only, imm8 add", alloc: 0x78, end: "ret"},
	{name: "large allocation, 16-bit form", pushes: []int{RBX}, alloc: 0x488, end: "ret"},
	{name: "large allocation, 32-bit form", pushes: []int{RBX}, alloc: 0x12_3450, end: "ret"},
	{name: "32-bit form holding a small size", alloc: 0x40, large1: true, end: "ret"},
	{name: "frame register rbp, lea epilogue", pushes: []int{RBP, RBX}, alloc: 0x40, fp: RBP, fpOff: 2, end: "ret"},
	{name: "frame register with alloca in the body", pushes: []int{RBP}, alloc: 0x30, fp: RBP, fpOff: 1, dyn: 0x1230, end: "ret"},
	{name: "frame register r12 (SIB in the lea)", pushes: []int{R12, RSI}, alloc: 0x20, fp: R12, fpOff: 0, dyn: 0x40, end: "ret"},
	{name: "frame register r13, disp32 lea", pushes: []int{R13}, alloc: 0x800, fp: R13, fpOff: 15, dyn: 0x100, end: "ret"},
	{name: "frame register saved by mov", pushes: []int{RBX}, alloc: 0x60, fp: RBP, fpOff: 4, saves: []saveOp{{RBP, 0x58, false}}, dyn: 0x200}, // no epilogue: it would need a mov after the lea
	{name: "save nonvol", pushes: []int{RBX}, alloc: 0x48, saves: []saveOp{{RSI, 0x40, false}, {RDI, 0x38, false}}, end: "ret"},
	{name: "save nonvol far", alloc: 0x20_0000, saves: []saveOp{{R14, 0x1f_fff8, true}, {R15, 0x1c, true}}, end: "ret"},
	{name: "xmm saves consume slots", pushes: []int{RBX}, alloc: 0xa0, xmm: []saveOp{{0, 0x80, false}, {0, 0x1_0000, true}}, saves: []saveOp{{RSI, 0x98, false}}, end: "ret"},
	{name: "version 2 with epilogue codes", version: 2, pushes: []int{RBX, RSI}, alloc: 0x28, end: "ret"},
	{name: "ret imm16", pushes: []int{RBX}, alloc: 0x18, end: "retimm"},
	{name: "rep ret", pushes: []int{RBX}, end: "repret"},
	{name: "tail call jmp rel32", pushes: []int{RBX, R15}, alloc: 0x20, end: "jmp32"},
	{name: "tail call jmp rel8 past the end", pushes: []int{RBX}, end: "jmp8"},
	{name: "tail call jmp [rip+disp]", pushes: []int{RDI}, alloc: 0x38, end: "jmpmem"},
	{name: "tail call rex.w jmp rax", pushes: []int{RDI}, alloc: 0x38, end: "rexjmp"},
	{name: "tail call rex.w jmp [rip+disp]", alloc: 0x28, end: "rexjmpmem"},
	{name: "machine frame", machine: 1, pushes: []int{RBP, RAX, R11}, alloc: 0x100, fp: RBP, fpOff: 8},
	{name: "machine frame with error code", machine: 2, pushes: []int{RCX, RBX}, alloc: 0x58},
	{name: "machine frame alone", machine: 1},
	{name: "chained fragment", pushes: []int{RBX, RSI}, alloc: 0x48, saves: []saveOp{{RDI, 0x40, false}}, end: "ret",
		frag: &fragModel{saves: []saveOp{{R12, 0x30, false}, {R13, 0x28, false}}}},
	{name: "chained fragment that pushes", pushes: []int{RBX}, alloc: 0x28, saves: []saveOp{{RSI, 0x20, false}}, end: "ret",
		frag: &fragModel{pushes: []int{R14, R15}, saves: []saveOp{{RDI, 0x18, false}}}},
	{name: "chained fragment under a frame register", pushes: []int{RBP, RBX}, alloc: 0x60, fp: RBP, fpOff: 3, dyn: 0x80, end: "ret",
		frag: &fragModel{pushes: []int{R12}, saves: []saveOp{{RSI, 0x50, false}}}},
}

// TestUnwindModels unwinds every model from every instruction boundary of
// its prologue, its body and its epilogue, and from its chained fragment,
// and checks the caller's context against the one at entry.
func TestUnwindModels(t *testing.T) {
	for _, md := range models {
		md := md
		t.Run(md.name, func(t *testing.T) {
			b, err := md.build()
			if err != nil {
				t.Fatal(err)
			}
			checkPoints(t, b)
		})
	}
}

func checkPoints(t *testing.T, b *built) {
	t.Helper()
	var u Unwinder
	for _, p := range b.points {
		st, err := u.Unwind(p.regs, false, b.mem, b.fns)
		if err != nil {
			t.Errorf("%s (rip %#x): %v", p.what, p.regs.RIP, err)
			continue
		}
		if st.Method != p.method {
			t.Errorf("%s (rip %#x): method %v, want %v", p.what, p.regs.RIP, st.Method, p.method)
		}
		if d := diffRegs(st.Caller, p.want); d != "" {
			t.Errorf("%s (rip %#x):%s", p.what, p.regs.RIP, d)
		}
		if !st.FunctionFound || !st.Function.Contains(p.regs.RIP) {
			t.Errorf("%s: function %+v found=%v", p.what, st.Function, st.FunctionFound)
		}
		if st.Interrupted != (p.method == MachineFrame) {
			t.Errorf("%s: interrupted=%v", p.what, st.Interrupted)
		}
		if p.method == MachineFrame {
			m := st.Machine
			if m.RIP != intRIP || m.RSP != intRSP || m.CS != intCS || m.SS != intSS || m.RFLAGS != intRFLAGS || !m.UserMode() {
				t.Errorf("%s: machine frame %+v", p.what, m)
			}
		}
	}
}

// TestUnwindRandomModels builds many random well-formed functions (a
// fixed seed: the same ones every run) and unwinds them everywhere.
func TestUnwindRandomModels(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	nonvol := []int{RBX, RBP, RSI, RDI, R12, R13, R14, R15}
	ends := []string{"ret", "repret", "jmp32", "jmpmem", "rexjmp", "jmp8"}
	n := 400
	if testing.Short() {
		n = 100
	}
	for i := 0; i < n; i++ {
		perm := rng.Perm(len(nonvol))
		var md model
		md.name = "random"
		np := rng.Intn(len(nonvol) + 1)
		for _, j := range perm[:np] {
			md.pushes = append(md.pushes, nonvol[j])
		}
		if rng.Intn(3) > 0 {
			md.alloc = uint32(8 * (1 + rng.Intn(40)))
			if rng.Intn(4) == 0 {
				md.alloc = uint32(8 * (1 + rng.Intn(0x10000)))
			}
			if rng.Intn(8) == 0 {
				md.large1 = true
			}
		}
		rest := perm[np:]
		if len(md.pushes) > 0 && rng.Intn(3) == 0 {
			md.fp = md.pushes[rng.Intn(len(md.pushes))]
			md.fpOff = uint8(rng.Intn(16))
			if uint32(md.fpOff)*16 > md.alloc {
				md.fpOff = uint8(md.alloc / 16)
			}
			md.dyn = uint64(16 * rng.Intn(100))
		}
		// Saves go to distinct, aligned slots of the allocation.
		slots := int(md.alloc / 8)
		used := map[int]bool{}
		for _, j := range rest {
			if slots == 0 || rng.Intn(2) == 0 {
				continue
			}
			s := rng.Intn(slots)
			if used[s] {
				continue
			}
			used[s] = true
			md.saves = append(md.saves, saveOp{reg: nonvol[j], off: uint32(8 * s), far: rng.Intn(5) == 0})
		}
		if rng.Intn(5) == 0 {
			md.version = 2
		}
		if rng.Intn(6) == 0 {
			md.machine = 1 + rng.Intn(2)
		} else {
			md.end = ends[rng.Intn(len(ends))]
		}
		b, err := md.build()
		if err != nil {
			t.Fatal(err)
		}
		checkPoints(t, b)
		if t.Failed() {
			t.Fatalf("model %d: %+v", i, md)
		}
	}
}
