package qmp

import (
	"fmt"
	"strconv"
	"strings"
)

// CPURegisters is one vCPU's block of HMP `info registers`: what the
// gdbstub cannot give (descriptor tables, task register, debug
// registers), beside the general state.
type CPURegisters struct {
	CPU int // n in "CPU#n"
	// Values holds every NAME=hex pair, names upper-case as QEMU prints
	// them: RAX..R15, RIP, RFL, CR0, CR2, CR3, CR4, DR0..DR7, EFER, CPL,
	// SMM, HLT and so on.
	Values   map[string]uint64
	Segments map[string]Segment // ES CS SS DS FS GS LDT TR
	GDT, IDT DescriptorTable
}

// Segment is a segment register line: "CS =0010 <base> <limit> <flags> ...".
type Segment struct {
	Selector uint16
	Base     uint64
	Limit    uint32
	Flags    uint32
}

// DescriptorTable is a "GDT=     <base> <limit>" line.
type DescriptorTable struct {
	Base  uint64
	Limit uint32
}

// RegistersError is `info registers` text that cannot be parsed.
type RegistersError struct {
	Line int
	Text string
	Msg  string
}

func (e *RegistersError) Error() string {
	if e.Line == 0 {
		return "qmp: info registers: " + e.Msg
	}
	return fmt.Sprintf("qmp: info registers: line %d: %s: %q", e.Line, e.Msg, e.Text)
}

var segmentNames = map[string]bool{"ES": true, "CS": true, "SS": true, "DS": true, "FS": true, "GS": true, "LDT": true, "TR": true}

// ParseRegisters parses the x86 output of `info registers` or
// `info registers -a` (QEMU 7.2). FPU and vector registers are skipped:
// the gdbstub has them, and they are not NAME=value pairs.
func ParseRegisters(text string) ([]CPURegisters, error) {
	var cpus []CPURegisters
	var cur *CPURegisters
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		lineErr := func(msg string) error { return &RegistersError{Line: i + 1, Text: line, Msg: msg} }
		s := strings.TrimSpace(line)
		if s == "" {
			continue
		}
		if n, ok := strings.CutPrefix(s, "CPU#"); ok {
			id, err := strconv.Atoi(n)
			if err != nil || id < 0 {
				return nil, lineErr("bad CPU number")
			}
			cpus = append(cpus, CPURegisters{CPU: id, Values: map[string]uint64{}, Segments: map[string]Segment{}})
			cur = &cpus[len(cpus)-1]
			continue
		}
		if cur == nil {
			return nil, lineErr("registers before the first CPU# line")
		}
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		var err error
		switch {
		case segmentNames[name]:
			cur.Segments[name], err = parseSegment(rest)
		case name == "GDT" || name == "IDT":
			var t DescriptorTable
			if t, err = parseTable(rest); err == nil {
				if name == "GDT" {
					cur.GDT = t
				} else {
					cur.IDT = t
				}
			}
		case strings.HasPrefix(name, "FPR"), strings.HasPrefix(name, "XMM"), strings.HasPrefix(name, "YMM"), strings.HasPrefix(name, "ZMM"):
		default:
			err = parsePairs(s, cur.Values)
		}
		if err != nil {
			return nil, lineErr(err.Error())
		}
	}
	if len(cpus) == 0 {
		return nil, &RegistersError{Msg: "no CPU# line"}
	}
	return cpus, nil
}

// parseSegment reads "0010 0000000000000000 00000000 00209a00 DPL=0 ...".
func parseSegment(s string) (Segment, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return Segment{}, fmt.Errorf("want selector, base, limit and flags")
	}
	sel, err1 := strconv.ParseUint(f[0], 16, 16)
	base, err2 := strconv.ParseUint(f[1], 16, 64)
	limit, err3 := strconv.ParseUint(f[2], 16, 32)
	flags, err4 := strconv.ParseUint(f[3], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return Segment{}, fmt.Errorf("bad segment fields")
	}
	return Segment{Selector: uint16(sel), Base: base, Limit: uint32(limit), Flags: uint32(flags)}, nil
}

// parseTable reads "     fffff8024ee0d1e0 0000004f".
func parseTable(s string) (DescriptorTable, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return DescriptorTable{}, fmt.Errorf("want base and limit")
	}
	base, err1 := strconv.ParseUint(f[0], 16, 64)
	limit, err2 := strconv.ParseUint(f[1], 16, 32)
	if err1 != nil || err2 != nil {
		return DescriptorTable{}, fmt.Errorf("bad descriptor table fields")
	}
	return DescriptorTable{Base: base, Limit: uint32(limit)}, nil
}

// parsePairs reads "RAX=... RBX=..." and "R8 =..." (QEMU pads short
// names before the '='). Tokens that are not NAME=hex, such as the flag
// string "[---Z-P-]", are skipped.
func parsePairs(s string, into map[string]uint64) error {
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		tok := f[i]
		// "R8 =ffff": the name and "=value" are separate fields.
		if i+1 < len(f) && strings.HasPrefix(f[i+1], "=") && !strings.Contains(tok, "=") {
			tok += f[i+1]
			i++
		}
		name, val, ok := strings.Cut(tok, "=")
		if !ok || name == "" || !isRegName(name) {
			continue
		}
		v, err := strconv.ParseUint(val, 16, 64)
		if err != nil {
			continue // e.g. "[ST=0]" or a non-hex value; not a register
		}
		into[name] = v
	}
	return nil
}

func isRegName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
