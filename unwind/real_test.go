package unwind

import (
	"bufio"
	"bytes"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The mini-NT guest's binaries are real PE32+ images built by clang with
// -fasynchronous-unwind-tables and linked by lld-link. These tests read
// their .pdata/.xdata straight from the files (debug/pe), and check the
// decoding and the unwinding against LLVM's own tools: llvm-readobj's
// reading of the unwind data, and llvm-objdump's decoding of the code,
// from which the functions are run forward independently of this
// package's instruction decoder.

var realImages = []string{"ntoskrnl.exe", "writer.exe", "frostrt.dll", "ntdll.dll", "hal.dll", "reorder/ntoskrnl.exe"}

const guestOut = "../integration/guest/out"

// peImage is a PE file mapped as the loader would: each section at its
// RVA, zero-filled up to its virtual size; anything else unreadable.
type peImage struct {
	path string
	base uint64
	secs []peSection
	fns  []Function
}

type peSection struct {
	start uint64
	data  []byte
}

func (im *peImage) ReadAt(p []byte, addr uint64) (int, error) {
	for _, s := range im.secs {
		if addr >= s.start && addr+uint64(len(p)) <= s.start+uint64(len(s.data)) {
			return copy(p, s.data[addr-s.start:]), nil
		}
	}
	return 0, fmt.Errorf("%#x+%d is not inside one section of %s", addr, len(p), im.path)
}

func (im *peImage) contains(addr uint64) bool {
	for _, s := range im.secs {
		if addr >= s.start && addr < s.start+uint64(len(s.data)) {
			return true
		}
	}
	return false
}

func realImage(t *testing.T, name string) *peImage {
	t.Helper()
	path := filepath.Join(guestOut, name)
	f, err := pe.Open(path)
	if os.IsNotExist(err) {
		t.Skipf("%s is not built: run `make -C integration/guest` (needs clang and lld)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("%s: not PE32+", path)
	}
	im := &peImage{path: path, base: oh.ImageBase}
	for _, s := range f.Sections {
		data, err := s.Data()
		if err != nil {
			t.Fatalf("%s: section %s: %v", path, s.Name, err)
		}
		size := s.VirtualSize
		if size < uint32(len(data)) {
			size = uint32(len(data))
		}
		mapped := make([]byte, size)
		copy(mapped, data)
		im.secs = append(im.secs, peSection{start: im.base + uint64(s.VirtualAddress), data: mapped})
	}
	if len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_EXCEPTION {
		dir := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_EXCEPTION]
		raw := make([]byte, dir.Size)
		if dir.Size > 0 {
			if _, err := im.ReadAt(raw, im.base+uint64(dir.VirtualAddress)); err != nil {
				t.Fatalf("%s: exception directory: %v", path, err)
			}
		}
		for i := 0; i+12 <= len(raw); i += 12 {
			im.fns = append(im.fns, Function{ImageBase: im.base,
				Begin:      binary.LittleEndian.Uint32(raw[i:]),
				End:        binary.LittleEndian.Uint32(raw[i+4:]),
				UnwindData: binary.LittleEndian.Uint32(raw[i+8:])})
		}
	}
	return im
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian's llvm package)", name)
	}
	out, err := exec.Command(path, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// readobjFunction is one RuntimeFunction as llvm-readobj --unwind prints it.
type readobjFunction struct {
	start, end, info uint64
	fields           map[string]string
	codes            []string
}

var (
	reAddr  = regexp.MustCompile(`^(StartAddress|EndAddress|UnwindInfoAddress): .*\((0x[0-9A-Fa-f]+)\)`)
	reField = regexp.MustCompile(`^(Version|PrologSize|FrameRegister|FrameOffset|UnwindCodeCount): (.*)$`)
	reFlags = regexp.MustCompile(`^Flags \[ \((0x[0-9A-Fa-f]+)\)`)
	reCode  = regexp.MustCompile(`^0x[0-9A-F]{2}: `)
)

func parseReadobj(out string) []readobjFunction {
	var fns []readobjFunction
	var cur *readobjFunction
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "RuntimeFunction {":
			fns = append(fns, readobjFunction{fields: map[string]string{}})
			cur = &fns[len(fns)-1]
		case cur == nil:
		case reAddr.MatchString(line):
			m := reAddr.FindStringSubmatch(line)
			v, _ := strconv.ParseUint(m[2], 0, 64)
			switch m[1] {
			case "StartAddress":
				cur.start = v
			case "EndAddress":
				cur.end = v
			default:
				cur.info = v
			}
		case reFlags.MatchString(line):
			cur.fields["Flags"] = reFlags.FindStringSubmatch(line)[1]
		case reField.MatchString(line):
			m := reField.FindStringSubmatch(line)
			cur.fields[m[1]] = m[2]
		case reCode.MatchString(line):
			cur.codes = append(cur.codes, line)
		}
	}
	return fns
}

// render prints a decoded UNWIND_INFO's fields and codes the way
// llvm-readobj does, from this package's decoding of the bytes.
func render(in *info) (map[string]string, []string) {
	fields := map[string]string{
		"Version":         strconv.Itoa(int(in.version)),
		"Flags":           fmt.Sprintf("0x%X", in.flags),
		"PrologSize":      strconv.Itoa(int(in.prologSize)),
		"FrameRegister":   "-",
		"FrameOffset":     "-",
		"UnwindCodeCount": strconv.Itoa(int(in.count)),
	}
	if in.frameReg != 0 {
		fields["FrameRegister"] = fmt.Sprintf("%s (0x%X)", strings.ToUpper(RegName(int(in.frameReg))), in.frameReg)
		fields["FrameOffset"] = fmt.Sprintf("0x%X", in.frameOff)
	}
	var codes []string
	for i := 0; i < int(in.count); {
		off, op, opInfo := in.code(i)
		var s string
		switch op {
		case opPushNonvol:
			s = "PUSH_NONVOL reg=" + strings.ToUpper(RegName(int(opInfo)))
		case opAllocSmall:
			s = fmt.Sprintf("ALLOC_SMALL size=%d", int(opInfo)*8+8)
		case opAllocLarge:
			size := in.slot(i+1) * 8
			if opInfo == 1 {
				size = in.slot(i+1) | in.slot(i+2)<<16
			}
			s = fmt.Sprintf("ALLOC_LARGE size=%d", size)
		case opSetFPReg:
			s = fmt.Sprintf("SET_FPREG reg=%s, offset=0x%X", strings.ToUpper(RegName(int(in.frameReg))), 16*int(in.frameOff))
		case opPushMachframe:
			s = "PUSH_MACHFRAME errcode=" + map[uint8]string{0: "no", 1: "yes"}[opInfo]
		default:
			s = fmt.Sprintf("op %d info %d", op, opInfo) // none in the guest's binaries
		}
		codes = append(codes, fmt.Sprintf("0x%02X: %s", off, s))
		i += slots(op, opInfo)
	}
	return fields, codes
}

// TestRealUnwindInfo decodes every RUNTIME_FUNCTION's UNWIND_INFO of the
// guest's binaries and compares each, function by function, with
// llvm-readobj --unwind.
func TestRealUnwindInfo(t *testing.T) {
	for _, name := range realImages {
		t.Run(name, func(t *testing.T) {
			im := realImage(t, name)
			ref := parseReadobj(tool(t, "llvm-readobj-14", "--unwind", im.path))
			if len(ref) != len(im.fns) {
				t.Fatalf("llvm-readobj lists %d functions, .pdata holds %d", len(ref), len(im.fns))
			}
			if _, err := NewTable(im.base, im.fns); err != nil {
				t.Fatal(err)
			}
			var u Unwinder
			for i, fn := range im.fns {
				r := ref[i]
				if r.start != fn.Start() || r.end != fn.Limit() || r.info != fn.ImageBase+uint64(fn.UnwindData) {
					t.Errorf("function %d: [%#x,%#x) info %#x; llvm-readobj [%#x,%#x) info %#x",
						i, fn.Start(), fn.Limit(), fn.ImageBase+uint64(fn.UnwindData), r.start, r.end, r.info)
					continue
				}
				in, err := u.readInfo(im, fn)
				if err != nil {
					t.Errorf("function %#x: %v", fn.Start(), err)
					continue
				}
				fields, codes := render(&in)
				for k, v := range fields {
					if r.fields[k] != v {
						t.Errorf("function %#x: %s %q, llvm-readobj %q", fn.Start(), k, v, r.fields[k])
					}
				}
				if strings.Join(codes, "\n") != strings.Join(r.codes, "\n") {
					t.Errorf("function %#x: codes\n%s\nllvm-readobj:\n%s", fn.Start(), strings.Join(codes, "\n"), strings.Join(r.codes, "\n"))
				}
			}
			t.Logf("%s: %d functions decoded, all equal to llvm-readobj's", name, len(im.fns))
		})
	}
}

// insn is one instruction as llvm-objdump decodes it.
type insn struct {
	addr, next uint64
	mn, ops    string
}

var reInsn = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(\S+)\s*([^#]*)`)

// disassemble decodes the functions of im, in order: one linear sweep of
// the image, and, for a function the sweep did not enter at its first
// byte (it lost the instruction boundaries in data before it), a
// decoding of that function alone.
func disassemble(t *testing.T, im *peImage) []insn {
	t.Helper()
	sweep := parseInsns(tool(t, "llvm-objdump-14", "-d", "--no-show-raw-insn", "-M", "intel", im.path))
	at := map[uint64]int{}
	for i, x := range sweep {
		at[x.addr] = i
	}
	var ins []insn
	for _, fn := range im.fns {
		var part []insn
		if i, ok := at[fn.Start()]; ok {
			for ; i < len(sweep) && sweep[i].addr < fn.Limit(); i++ {
				part = append(part, sweep[i])
			}
		} else {
			part = parseInsns(tool(t, "llvm-objdump-14", "-d", "--no-show-raw-insn", "-M", "intel",
				fmt.Sprintf("--start-address=%#x", fn.Start()), fmt.Sprintf("--stop-address=%#x", fn.Limit()), im.path))
		}
		if n := len(part); n > 0 {
			part[n-1].next = fn.Limit()
		}
		ins = append(ins, part...)
	}
	return ins
}

func parseInsns(out string) []insn {
	var ins []insn
	for _, line := range strings.Split(out, "\n") {
		m := reInsn.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a, _ := strconv.ParseUint(m[1], 16, 64)
		if n := len(ins); n > 0 {
			ins[n-1].next = a
		}
		ins = append(ins, insn{addr: a, mn: m[2], ops: strings.TrimSpace(m[3])})
	}
	return ins
}

var regNums = func() map[string]int {
	m := map[string]int{}
	for i, n := range regNames {
		m[n] = i
	}
	return m
}()

// effect is what one instruction does to the frame, as far as these
// functions' prologues and epilogues go.
type effect struct {
	kind string // "push", "pop", "sub", "add", "ret", "tail", "other"
	reg  int
	n    uint64
}

var (
	reImm    = regexp.MustCompile(`^rsp, (\d+)$`)
	reSetFP  = regexp.MustCompile(`^(?:mov\s+(\w+), rsp|lea\s+(\w+), \[rsp \+ (\d+)\])$`)
	reLeaRSP = regexp.MustCompile(`^rsp, \[(\w+) ([+-]) (\d+)\]$`)
)

func (in insn) effect(fn Function) effect {
	if m := reSetFP.FindStringSubmatch(in.mn + " " + in.ops); m != nil {
		if m[1] != "" {
			return effect{kind: "setfp", reg: regNums[m[1]]}
		}
		n, _ := strconv.ParseUint(m[3], 10, 64)
		return effect{kind: "setfp", reg: regNums[m[2]], n: n}
	}
	switch in.mn {
	case "push", "pop":
		if r, ok := regNums[in.ops]; ok {
			return effect{kind: in.mn, reg: r}
		}
		if n, err := strconv.ParseUint(in.ops, 10, 64); err == nil && in.mn == "push" {
			return effect{kind: "pushimm", n: n}
		}
	case "lea":
		if m := reLeaRSP.FindStringSubmatch(in.ops); m != nil {
			n, _ := strconv.ParseInt(m[3], 10, 64)
			if m[2] == "-" {
				n = -n
			}
			return effect{kind: "lea", reg: regNums[m[1]], n: uint64(n)}
		}
	case "sub", "add":
		if m := reImm.FindStringSubmatch(in.ops); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return effect{kind: in.mn, n: n}
		}
	case "ret":
		if in.ops == "" {
			return effect{kind: "ret"}
		}
	case "jmp":
		f := strings.Fields(in.ops)
		if len(f) > 0 {
			// A jmp out of the function to code of the image is a tail
			// call; one to nowhere is data taken for code.
			if a, err := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 64); err == nil && !fn.Contains(a) &&
				a >= fn.ImageBase && a < fn.ImageBase+1<<24 {
				return effect{kind: "tail"}
			}
		}
	case "mov":
		// mov rsp, rbp: LLVM's form of lea rsp, [rbp+0] in an epilogue.
		if f := strings.Split(in.ops, ", "); len(f) == 2 && f[0] == "rsp" {
			if r, ok := regNums[f[1]]; ok {
				return effect{kind: "movrsp", reg: r}
			}
		}
	}
	return effect{kind: "other"}
}

// realFunction is a function of a real image, with its instructions.
type realFunction struct {
	fn       Function
	prologue []insn
	body     []insn
	info     info
}

func realFunctions(t *testing.T, im *peImage, all []insn) []realFunction {
	var u Unwinder
	var out []realFunction
	for _, fn := range im.fns {
		i := sort.Search(len(all), func(i int) bool { return all[i].addr >= fn.Start() })
		j := sort.Search(len(all), func(i int) bool { return all[i].addr >= fn.Limit() })
		in, err := u.readInfo(im, fn)
		if err != nil {
			t.Fatalf("%#x: %v", fn.Start(), err)
		}
		codes := append([]byte(nil), in.codes...)
		in.codes = codes
		rf := realFunction{fn: fn, info: in}
		for _, x := range all[i:j] {
			if x.addr < fn.Start()+uint64(in.prologSize) {
				rf.prologue = append(rf.prologue, x)
			} else {
				rf.body = append(rf.body, x)
			}
		}
		out = append(out, rf)
	}
	return out
}

// stackMem is a stack over an image: reads inside the image go to it.
type stackMem struct {
	*fakeMem
	im *peImage
}

func (m stackMem) ReadAt(p []byte, addr uint64) (int, error) {
	if m.im.contains(addr) {
		return m.im.ReadAt(p, addr)
	}
	return m.fakeMem.ReadAt(p, addr)
}

// runPrologue runs rf's prologue on m as llvm-objdump decodes it, checking
// on the way that each instruction matches its unwind code (offset and
// operation), and calls at(offset) at every boundary from which the
// unwind data describes the frame, prologue end included. A machine frame
// (the system-call entry builds one by pushes, after switching stacks)
// is laid out whole, with known values, where its code says it is
// complete; the instructions before that point are not described by any
// code and are not unwound from. machine reports the frame's presence.
func runPrologue(t *testing.T, rf *realFunction, m *machine, at func(off uint64)) (ok, machine bool) {
	t.Helper()
	type c struct {
		off  uint8
		op   uint8
		info uint8
		size uint32
	}
	var codes []c // in prologue order
	in := &rf.info
	for i := 0; i < int(in.count); {
		off, op, opInfo := in.code(i)
		x := c{off: off, op: op, info: opInfo}
		switch op {
		case opAllocSmall:
			x.size = uint32(opInfo)*8 + 8
		case opAllocLarge:
			x.size = in.slot(i+1) * 8
			if opInfo == 1 {
				x.size = in.slot(i+1) | in.slot(i+2)<<16
			}
		}
		codes = append([]c{x}, codes...)
		i += slots(op, opInfo)
	}
	start := rf.fn.Start()
	k := 0
	for _, cd := range codes {
		if cd.op == opPushMachframe {
			for k < len(rf.prologue) && rf.prologue[k].next-start <= uint64(cd.off) {
				k++
			}
			if k == 0 || rf.prologue[k-1].next-start != uint64(cd.off) {
				t.Errorf("%#x: no instruction ends at the machine frame's +%#x", start, cd.off)
				return false, false
			}
			q := []uint64{intRIP, intCS, intRFLAGS, intRSP, intSS}
			if cd.info == 1 {
				q = append([]uint64{intErr}, q...)
			}
			m.r.GPR[RSP] = rsp0 + 0x1000 - uint64(8*len(q))
			for i, v := range q {
				m.mem.put64(m.r.GPR[RSP]+uint64(8*i), v)
			}
			machine = true
			continue
		}
		if k == len(rf.prologue) {
			t.Errorf("%#x: more codes than prologue instructions", start)
			return false, false
		}
		x := rf.prologue[k]
		k++
		if k == 1 || machine || rf.prologue[k-2].next-start >= uint64(codes[0].off) {
			at(x.addr - start)
		}
		e := x.effect(rf.fn)
		if uint64(cd.off) != x.next-start {
			t.Errorf("%#x: %s %s ends at +%#x, its code says +%#x", start, x.mn, x.ops, x.next-start, cd.off)
			return false, false
		}
		switch {
		case e.kind == "push" && cd.op == opPushNonvol && int(cd.info) == e.reg:
			m.push(m.r.GPR[e.reg])
		case (e.kind == "push" || e.kind == "pushimm") && cd.op == opAllocSmall && cd.size == 8:
			// A push the codes record as an allocation (a volatile
			// register saved into a trap frame, or a constant).
			m.push(m.r.GPR[e.reg] + e.n)
		case e.kind == "sub" && (cd.op == opAllocSmall || cd.op == opAllocLarge) && uint64(cd.size) == e.n:
			m.r.GPR[RSP] -= e.n
		case e.kind == "setfp" && cd.op == opSetFPReg && e.reg == int(in.frameReg) && e.n == 16*uint64(in.frameOff):
			m.r.Set(e.reg, m.r.GPR[RSP]+e.n)
		default:
			t.Errorf("%#x: %s %s does not match its code %+v", start, x.mn, x.ops, cd)
			return false, false
		}
	}
	if k != len(rf.prologue) {
		t.Errorf("%#x: %d prologue instructions, %d described", start, len(rf.prologue), k)
		return false, false
	}
	at(uint64(in.prologSize))
	return true, machine
}

// TestRealFunctions runs every function of the guest's binaries that has
// unwind data on a fake stack: its prologue (as llvm-objdump decodes it,
// checked against the codes), then, from its body state, every epilogue
// llvm-objdump shows (add rsp; pops; ret or a jmp out), instruction by
// instruction. From every prologue boundary, the body's start, every call
// site (as a return address) and every epilogue instruction, Unwind must
// give back the context at entry.
func TestRealFunctions(t *testing.T) {
	for _, name := range realImages {
		t.Run(name, func(t *testing.T) {
			im := realImage(t, name)
			all := disassemble(t, im)
			fns, err := NewTable(im.base, im.fns)
			if err != nil {
				t.Fatal(err)
			}
			var u Unwinder
			points, epilogues := 0, 0
			for _, rf := range realFunctions(t, im, all) {
				rf := rf
				mem := newMem()
				smem := stackMem{mem, im}
				m := &machine{r: entryRegs(), mem: mem}
				entry := m.r
				mem.put64(rsp0, retAddr)
				want := entry
				want.forget(Volatile)
				want.RIP, want.GPR[RSP] = retAddr, rsp0+8
				check := func(what string, regs Registers, callSite bool, method Method) {
					t.Helper()
					points++
					st, err := u.Unwind(regs, callSite, smem, fns)
					if err != nil {
						t.Errorf("%#x %s (rip %#x): %v", rf.fn.Start(), what, regs.RIP, err)
						return
					}
					if st.Method != method {
						t.Errorf("%#x %s (rip %#x): method %v, want %v", rf.fn.Start(), what, regs.RIP, st.Method, method)
					}
					if d := diffRegs(st.Caller, want); d != "" {
						t.Errorf("%#x %s (rip %#x):%s", rf.fn.Start(), what, regs.RIP, d)
					}
				}
				method := Unwound
				for i := 0; i < int(rf.info.count); i += slots(rf.info.codes[2*i+1]&0xf, rf.info.codes[2*i+1]>>4) {
					if _, op, _ := rf.info.code(i); op == opPushMachframe {
						method = MachineFrame
						want.RIP, want.GPR[RSP] = intRIP, intRSP
					}
				}
				ok, _ := runPrologue(t, &rf, m, func(off uint64) {
					check(fmt.Sprintf("prologue +%d", off), withRIP(m.r, rf.fn.Start()+off), false, method)
				})
				if !ok {
					continue
				}
				saved := map[int]bool{}
				for _, x := range rf.prologue {
					if e := x.effect(rf.fn); e.kind == "push" {
						saved[e.reg] = true
					}
				}
				for r := 0; r < 16; r++ {
					if r != RSP && r != int(rf.info.frameReg) && (saved[r] || Volatile&(1<<r) != 0) {
						m.r.Set(r, garbage(r))
					}
				}
				bodyState := m.r
				for k, x := range rf.body {
					if x.mn == "call" {
						check("call site "+x.ops, withRIP(bodyState, x.next), true, method)
					}
					if method == MachineFrame {
						continue // it leaves by sysret or iret, no epilogue form
					}
					// An epilogue ends here: walk back over pops and one add.
					if e := x.effect(rf.fn); e.kind != "ret" && e.kind != "tail" {
						continue
					}
					first := k
					for first > 0 && rf.body[first-1].effect(rf.fn).kind == "pop" {
						first--
					}
					if first > 0 {
						if kind := rf.body[first-1].effect(rf.fn).kind; kind == "add" || kind == "lea" || kind == "movrsp" {
							first--
						}
					}
					if first == k && rf.info.count > 0 {
						// A lone ret or jmp in a function with a frame
						// cannot leave it: data in the code, taken for
						// instructions.
						continue
					}
					epilogues++
					m.r = bodyState
					for _, y := range rf.body[first : k+1] {
						e := y.effect(rf.fn)
						if e.kind == "movrsp" {
							// Not one of the epilogue forms: nothing of
							// the frame is undone yet, the codes apply.
							check("before mov rsp", withRIP(m.r, y.addr), false, Unwound)
							m.r.GPR[RSP] = m.r.GPR[e.reg]
							continue
						}
						check(fmt.Sprintf("epilogue %s %s", y.mn, y.ops), withRIP(m.r, y.addr), false, Epilogue)
						switch e.kind {
						case "add":
							m.r.GPR[RSP] += e.n
						case "lea":
							m.r.GPR[RSP] = m.r.GPR[e.reg] + e.n
						case "pop":
							v, _ := readQ(mem, m.r.GPR[RSP])
							m.r.Set(e.reg, v)
							m.r.GPR[RSP] += 8
						}
					}
				}
			}
			t.Logf("%s: %d functions, %d unwinds checked, %d epilogues emulated", name, len(im.fns), points, epilogues)
		})
	}
}

// TestRealCallChain lays out a six-frame stack of the kernel's own
// functions as their prologues (decoded by llvm-objdump) build it, each
// calling the next from one of its real call sites, and walks it.
func TestRealCallChain(t *testing.T) {
	im := realImage(t, "ntoskrnl.exe")
	all := disassemble(t, im)
	fns, err := NewTable(im.base, im.fns)
	if err != nil {
		t.Fatal(err)
	}
	// Functions with a prologue of their own and a call site, spread
	// over the image.
	var chain []realFunction
	for _, rf := range realFunctions(t, im, all) {
		calls := 0
		for _, x := range rf.body {
			if x.mn == "call" {
				calls++
			}
		}
		if rf.info.count > 0 && rf.info.frameReg == 0 && calls > 0 && (len(chain) == 0 || rf.fn.Begin > chain[len(chain)-1].fn.Begin+0x800) {
			chain = append(chain, rf)
		}
		if len(chain) == 6 {
			break
		}
	}
	if len(chain) < 6 {
		t.Fatalf("only %d functions fit", len(chain))
	}
	mem := newMem()
	m := &machine{r: entryRegs(), mem: mem}
	mem.put64(rsp0, 0)
	// frames[i] is the context of frame i; frame 0 stops in chain[0].
	frames := make([]Registers, 7)
	outer := m.r
	outer.forget(Volatile)
	outer.RIP, outer.GPR[RSP] = 0, rsp0+8
	frames[6] = outer
	for i := 5; i >= 0; i-- {
		rf := chain[i]
		if ok, _ := runPrologue(t, &rf, m, func(uint64) {}); !ok {
			t.FailNow()
		}
		for r := 0; r < 16; r++ {
			if r != RSP && Volatile&(1<<r) != 0 {
				m.r.Set(r, garbage(r)+uint64(i)<<32)
			}
		}
		for _, x := range rf.prologue {
			if e := x.effect(rf.fn); e.kind == "push" {
				m.r.Set(e.reg, garbage(e.reg)+uint64(i)<<32)
			}
		}
		if i == 0 {
			m.r.RIP = rf.body[0].addr
			frames[0] = m.r
			break
		}
		var ra uint64
		for _, x := range rf.body {
			if x.mn == "call" {
				ra = x.next
			}
		}
		call := m.r
		call.forget(Volatile)
		call.RIP = ra
		frames[i] = call
		m.push(ra)
	}
	steps, err := Walk(frames[0], stackMem{mem, im}, fns, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 {
		t.Fatalf("%d steps", len(steps))
	}
	var buf bytes.Buffer
	for i, st := range steps {
		if d := diffRegs(st.Caller, frames[i+1]); d != "" {
			t.Errorf("frame %d:%s", i+1, d)
		}
		if st.Function != chain[i].fn {
			t.Errorf("frame %d: function %#x, want %#x", i, st.Function.Start(), chain[i].fn.Start())
		}
		fmt.Fprintf(&buf, " %#x@%#x", st.Caller.RIP, st.Caller.GPR[RSP])
	}
	t.Logf("return addresses@rsp:%s", buf.String())
}
