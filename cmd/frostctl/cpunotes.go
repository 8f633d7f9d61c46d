package main

import (
	"debug/elf"
	"encoding/binary"
	"sort"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Each vCPU's state goes into the core as QEMU's dump-guest-memory writes
// it for an x86-64 guest in long mode (target/i386/arch_dump.c, QEMU 7.2),
// so tools that read QEMU cores (crash, elf2dmp, Volatility's QEMU layer,
// gdb) read Frost's: first an NT_PRSTATUS note per vCPU, owner "CORE",
// then a CPU-state note per vCPU, owner "QEMU", type 0.
//
// The values come from the gdbstub's register file (GetRegisters) and,
// when frostd can read QEMU's monitor, from its segment and descriptor
// table state (GetRegisters with system). What neither gives is left zero
// and listed in Frost's own note (dumpNote), so a reader can tell a zero
// from an unknown.

// cpuState is one vCPU's registers by gdbstub name, and its system state.
type cpuState struct {
	index uint32
	regs  map[string]uint64
	sys   *pb.SystemRegisters // nil: not known
}

func newCPUState(r *pb.Registers, sys *pb.SystemRegisters) cpuState {
	c := cpuState{index: r.GetCpu(), regs: map[string]uint64{}, sys: sys}
	for _, reg := range r.GetRegisters() {
		if len(reg.GetRaw()) <= 8 {
			c.regs[reg.GetName()] = reg.GetValue()
		}
	}
	return c
}

// get returns a register and whether the vCPU's file had it.
func (c cpuState) get(name string) (uint64, bool) {
	v, ok := c.regs[name]
	return v, ok
}

func (c cpuState) segment(name string) *pb.SegmentRegister {
	for _, s := range c.sys.GetSegments() {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

// prstatusRegs is the order of x86-64's user_regs_struct, by gdbstub
// name; "" is orig_rax, which a vCPU does not have (QEMU writes 0).
var prstatusRegs = []string{
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10",
	"r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi", "",
	"rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
	"ds", "es", "fs", "gs",
}

// x86-64's elf_prstatus: 32 bytes of signal and pending-mask fields, the
// pid at 32, 76 bytes of parent ids and times, the 27 registers at 112,
// then pr_fpvalid and padding.
const (
	prstatusSize    = 336
	prstatusPidOff  = 32
	prstatusRegsOff = 112
)

// prstatusNote is NT_PRSTATUS with pid = vCPU index + 1, as QEMU numbers
// its dump's threads.
func prstatusNote(c cpuState) elfNote {
	d := make([]byte, prstatusSize)
	le := binary.LittleEndian
	le.PutUint32(d[prstatusPidOff:], c.index+1)
	for i, name := range prstatusRegs {
		v, _ := c.get(name)
		le.PutUint64(d[prstatusRegsOff+8*i:], v)
	}
	return elfNote{name: "CORE", typ: uint32(elf.NT_PRSTATUS), desc: d}
}

// QEMUCPUState, version 1: version and size (uint32 each), 18 general
// registers (rax rbx rcx rdx rsi rdi rsp rbp r8-r15 rip rflags), ten
// segments {selector, limit, flags, pad uint32; base uint64} in the order
// cs ds es fs gs ss ldt tr gdt idt, cr[5], then kernel_gs_base (QEMU adds
// fields at the end and grows size, keeping the version).
const (
	qemuCPUStateVersion = 1
	qemuCPUStateSize    = 8 + 18*8 + 10*24 + 5*8 + 8
	qemuNoteType        = 0
)

var (
	qemuGeneral  = []string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"}
	qemuSegments = []string{"cs", "ds", "es", "fs", "gs", "ss", "ldt", "tr", "gdt", "idt"}
)

// qemuCPUState encodes the note's descriptor and returns which of its
// fields hold the vCPU's state (the rest are zero because nothing said).
func qemuCPUState(c cpuState) ([]byte, map[string]bool) {
	known := map[string]bool{}
	d := make([]byte, qemuCPUStateSize)
	le := binary.LittleEndian
	le.PutUint32(d[0:], qemuCPUStateVersion)
	le.PutUint32(d[4:], qemuCPUStateSize)
	for i, name := range qemuGeneral {
		gdbName := name
		if name == "rflags" {
			gdbName = "eflags"
		}
		if v, ok := c.get(gdbName); ok {
			le.PutUint64(d[8+8*i:], v)
			known[name] = true
		}
	}
	for i, name := range qemuSegments {
		off := 8 + 18*8 + 24*i
		sel, limit, flags, base, have := c.segmentFields(name)
		le.PutUint32(d[off:], sel)
		le.PutUint32(d[off+4:], limit)
		le.PutUint32(d[off+8:], flags)
		le.PutUint64(d[off+16:], base)
		for _, f := range []string{"selector", "limit", "flags", "base"} {
			if have[f] {
				known[name+"."+f] = true
			}
		}
	}
	crOff := 8 + 18*8 + 10*24
	for i := range 5 {
		name := "cr" + string(rune('0'+i))
		v, ok := c.get(name)
		if i == 1 {
			v, ok = 0, true // there is no CR1; QEMU's is always 0
		}
		if ok {
			le.PutUint64(d[crOff+8*i:], v)
			known[name] = true
		}
	}
	if v, ok := c.get("k_gs_base"); ok {
		le.PutUint64(d[crOff+40:], v)
		known["kernel_gs_base"] = true
	}
	return d, known
}

// segmentFields fills one QEMUCPUSegment: from the system state when
// frostd has it, else what the gdbstub carries (selectors of the six
// segment registers, the FS and GS bases).
func (c cpuState) segmentFields(name string) (sel, limit, flags uint32, base uint64, have map[string]bool) {
	have = map[string]bool{}
	if c.sys != nil {
		switch name {
		case "gdt", "idt":
			t := c.sys.GetGdt()
			if name == "idt" {
				t = c.sys.GetIdt()
			}
			if t != nil {
				// QEMU's descriptor-table registers have no selector or
				// attributes: 0, as its note has them.
				for _, f := range []string{"selector", "limit", "flags", "base"} {
					have[f] = true
				}
				return 0, t.GetLimit(), 0, t.GetBase(), have
			}
		default:
			if s := c.segment(name); s != nil {
				for _, f := range []string{"selector", "limit", "flags", "base"} {
					have[f] = true
				}
				return s.GetSelector(), s.GetLimit(), s.GetFlags(), s.GetBase(), have
			}
		}
	}
	if v, ok := c.get(name); ok && name != "ldt" && name != "tr" {
		sel, have["selector"] = uint32(v), true
	}
	if name == "fs" || name == "gs" {
		if v, ok := c.get(name + "_base"); ok {
			base, have["base"] = v, true
		}
	}
	return sel, limit, flags, base, have
}

func qemuCPUStateNote(c cpuState) (elfNote, map[string]bool) {
	d, known := qemuCPUState(c)
	return elfNote{name: "QEMU", typ: qemuNoteType, desc: d}, known
}

// cpuNotes are every vCPU's notes in QEMU's order (all NT_PRSTATUS, then
// all CPU states), and the QEMUCPUState fields known for every vCPU.
func cpuNotes(cpus []cpuState) ([]elfNote, []string) {
	sort.Slice(cpus, func(i, j int) bool { return cpus[i].index < cpus[j].index })
	var notes, states []elfNote
	var known map[string]bool
	for _, c := range cpus {
		notes = append(notes, prstatusNote(c))
		n, k := qemuCPUStateNote(c)
		states = append(states, n)
		if known == nil {
			known = k
			continue
		}
		for f := range known {
			if !k[f] {
				delete(known, f)
			}
		}
	}
	return append(notes, states...), qemuFieldOrder(known)
}

// qemuFieldOrder lists known fields in QEMUCPUState's order.
func qemuFieldOrder(known map[string]bool) []string {
	var all []string
	all = append(all, qemuGeneral...)
	for _, s := range qemuSegments {
		for _, f := range []string{"selector", "limit", "flags", "base"} {
			all = append(all, s+"."+f)
		}
	}
	all = append(all, "cr0", "cr1", "cr2", "cr3", "cr4", "kernel_gs_base")
	var out []string
	for _, f := range all {
		if known[f] {
			out = append(out, f)
		}
	}
	return out
}
