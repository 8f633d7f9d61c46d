package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// Disassembly is x86asm's decoder (64-bit mode) and its Intel syntax, with
// the targets Frost can name (branches, calls, RIP-relative operands)
// symbolized through the VM's modules. The decoder is golang.org/x/arch:
// a maintained decoder, tested against objdump and XED, rather than one
// of our own.

// namer names an address ("nt!NtWriteFile+0x1c"), or returns "" when
// nothing does.
type namer func(va uint64) string

// insn is one decoded instruction, or one byte the decoder refused.
type insn struct {
	addr uint64
	raw  []byte
	text string
	bad  bool
}

// maxInsnLen is the longest x86 instruction.
const maxInsnLen = 15

// decodeOne decodes the instruction at the start of code, at va. An
// instruction the decoder refuses is one "(bad)" byte, as objdump shows
// it, so decoding goes on after it. ok is false when code ends inside the
// instruction: the caller has no more bytes to decide it.
func decodeOne(code []byte, va uint64, name namer) (in insn, ok bool) {
	inst, err := x86asm.Decode(code, 64)
	// Bytes that end inside an instruction come back as ErrTruncated, or
	// as an instruction of prefixes only (Op 0): either way the next
	// bytes would decide, and there are none.
	cut := errors.Is(err, x86asm.ErrTruncated) || (err == nil && inst.Op == 0)
	switch {
	case cut && len(code) < maxInsnLen:
		return insn{}, false
	case err == nil && inst.Op == 0:
		return insn{addr: va, raw: code[:1], text: "(bad)", bad: true}, true
	case err != nil || inst.Len == 0:
		if len(code) == 0 {
			return insn{}, false
		}
		return insn{addr: va, raw: code[:1], text: "(bad)", bad: true}, true
	}
	return insn{addr: va, raw: code[:inst.Len], text: intelText(inst, va, name)}, true
}

// decodeN decodes up to n instructions from the start of code.
func decodeN(code []byte, va uint64, n int, name namer) []insn {
	var out []insn
	off := 0
	for len(out) < n {
		in, ok := decodeOne(code[off:], va+uint64(off), name)
		if !ok {
			break
		}
		out = append(out, in)
		off += len(in.raw)
	}
	return out
}

// intelText is the instruction in Intel syntax. x86asm names a branch
// target only at a symbol's first byte and a RIP-relative operand with a
// decimal offset, so both are done here: a branch's target becomes
// "nt!Foo+0x1c (fffff800`12345678)", and a RIP-relative operand gets the
// address it means, and its name, as a comment.
func intelText(inst x86asm.Inst, pc uint64, name namer) string {
	s := x86asm.IntelSyntax(inst, pc, nil)
	next := pc + uint64(inst.Len)
	var comment []string
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Rel:
			target := next + uint64(int64(a))
			hex := fmt.Sprintf("%#x", target)
			if strings.HasSuffix(s, hex) {
				s = strings.TrimSuffix(s, hex) + named(target, name)
			}
		case x86asm.Mem:
			if (a.Base == x86asm.RIP || a.Base == x86asm.EIP) && a.Index == 0 {
				comment = append(comment, named(next+uint64(a.Disp), name))
			}
		}
	}
	if len(comment) > 0 {
		s += " ; " + strings.Join(comment, ", ")
	}
	return s
}

// named is "name (address)", or the bare address when nothing names it.
func named(va uint64, name namer) string {
	if name != nil {
		if n := name(va); n != "" {
			return n + " (" + addr(va) + ")"
		}
	}
	return addr(va)
}

// syncTo finds where to start decoding code (whose first byte is at va) so
// that the instructions run into at exactly: x86 cannot be decoded
// backwards, so it tries each start from the farthest on and takes the
// first whose instructions, none of them refused, land on at. It returns
// the offset in code, or at's own offset when none does.
func syncTo(code []byte, va, at uint64) int {
	target := int(at - va)
	for start := 0; start < target; start++ {
		off := start
		for off < target {
			in, ok := decodeOne(code[off:], va+uint64(off), nil)
			if !ok || in.bad {
				break
			}
			off += len(in.raw)
		}
		if off == target {
			return start
		}
	}
	return target
}

// printInsns prints instructions as WinDbg's u does, the current one
// (cur) marked with =>.
func printInsns(w io.Writer, ins []insn, cur uint64) {
	for _, in := range ins {
		mark := "  "
		if in.addr == cur {
			mark = "=>"
		}
		fmt.Fprintf(w, "%s %s %-16x %s\n", mark, addr(in.addr), in.raw, in.text)
	}
}
