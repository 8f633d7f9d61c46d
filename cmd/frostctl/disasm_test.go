package main

import (
	"bufio"
	"bytes"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The disassembler is checked on real code: mini-NT's kernel, built by
// lld-link from C and assembly, against LLVM's own disassembler. Every
// instruction of .text must start at the same address with the same bytes
// and mnemonic, and every branch target and RIP-relative address
// disasm computes must be the one llvm-objdump prints.

// guestKernel is mini-NT's ntoskrnl.exe (make -C integration/guest).
func guestKernel(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "integration", "guest", "out", "ntoskrnl.exe")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("mini-NT's kernel is not built (make -C integration/guest): %v", err)
		}
		t.Skipf("mini-NT's kernel is not built (make -C integration/guest): %v", err)
	}
	return p
}

// objdumpInsn is one line of llvm-objdump -d.
type objdumpInsn struct {
	addr     uint64
	raw      []byte
	mnemonic string
	operands string
	target   uint64 // a branch's target or the "# 0x..." address; 0 if none
}

func llvmObjdump(t *testing.T, image string, start, stop uint64) []objdumpInsn {
	t.Helper()
	tool, err := exec.LookPath("llvm-objdump")
	if err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatal("llvm-objdump is not installed (Debian's llvm)")
		}
		t.Skip("llvm-objdump is not installed (Debian's llvm)")
	}
	out, err := exec.Command(tool, "-d", "--x86-asm-syntax=intel",
		fmt.Sprintf("--start-address=%#x", start), fmt.Sprintf("--stop-address=%#x", stop), image).Output()
	if err != nil {
		t.Fatalf("llvm-objdump: %v", err)
	}
	var ins []objdumpInsn
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		colon := strings.Index(line, ": ")
		if colon < 0 || strings.HasSuffix(line, ":") {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimSpace(line[:colon]), 16, 64)
		if err != nil {
			continue
		}
		rest := line[colon+2:]
		tab := strings.IndexByte(rest, '\t')
		if tab < 0 {
			t.Fatalf("llvm-objdump line without an instruction: %q", line)
		}
		raw, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(rest[:tab]), " ", ""))
		if err != nil {
			t.Fatalf("llvm-objdump bytes %q: %v", rest[:tab], err)
		}
		in := objdumpInsn{addr: a, raw: raw}
		text := rest[tab+1:]
		if i := strings.Index(text, " # "); i >= 0 {
			in.target, _ = strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(text[i+3:]), "0x"), 16, 64)
			text = text[:i]
		}
		in.mnemonic, in.operands, _ = strings.Cut(text, "\t")
		ins = append(ins, in)
	}
	return ins
}

// sameMnemonic maps x86asm's Intel names onto LLVM's where they are two
// spellings of one instruction (jz and je).
var sameMnemonic = map[string]string{
	"jz": "je", "jnz": "jne", "jnb": "jae", "jnbe": "ja", "jnl": "jge", "jnle": "jg", "jbe": "jbe", "jnae": "jb",
	"setz": "sete", "setnz": "setne", "setnb": "setae", "setnbe": "seta", "setnl": "setge", "setnle": "setg",
	"cmovz": "cmove", "cmovnz": "cmovne", "cmovnb": "cmovae", "cmovnbe": "cmova", "cmovnl": "cmovge", "cmovnle": "cmovg",
	// movabs is AT&T's and LLVM's name for mov with a 64-bit immediate.
	"movabs": "mov",
}

// prefixes are the words before an instruction's name.
var prefixes = map[string]bool{"rep": true, "repe": true, "repne": true, "lock": true, "data16": true, "addr32": true, "rex.w": true}

// mnemonic is an instruction's name, prefixes dropped, in LLVM's
// spelling.
func mnemonic(text string) string {
	// With REX.W, x86asm leaves the operand size out of these names.
	switch text {
	case "sysret":
		return "sysretq"
	case "ret far":
		return "retfq"
	}
	f := strings.Fields(text)
	for len(f) > 1 && prefixes[f[0]] {
		f = f[1:]
	}
	m := f[0]
	if n, ok := sameMnemonic[m]; ok {
		return n
	}
	return m
}

// hexTarget parses disasm's rendering of an address ("00000001`40001234").
func hexTarget(s string) (uint64, bool) {
	v, err := strconv.ParseUint(strings.ReplaceAll(s, "`", ""), 16, 64)
	return v, err == nil
}

func TestDisasmAgainstLLVM(t *testing.T) {
	image := guestKernel(t)
	f, err := pe.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatal("not a PE32+ image")
	}
	for _, name := range []string{".text", "INIT"} {
		s := f.Section(name)
		if s == nil {
			t.Fatalf("%s has no %s section", image, name)
		}
		code, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		code = code[:min(len(code), int(s.VirtualSize))]
		va := oh.ImageBase + uint64(s.VirtualAddress)
		want := llvmObjdump(t, image, va, va+uint64(len(code)))
		got := decodeN(code, va, len(code), nil)
		if len(want) < 100 {
			t.Fatalf("%s: llvm-objdump gave %d instructions", name, len(want))
		}
		// The two agree instruction by instruction, except where one of
		// them refuses bytes: disasm refuses one byte at a time (as GNU
		// objdump does), LLVM sometimes more, and both pick up again at
		// the next instruction they agree on.
		checked, targets, refused := 0, 0, 0
		byAddr := map[uint64]objdumpInsn{}
		unknownUntil := uint64(0)
		for _, w := range want {
			byAddr[w.addr] = w
		}
		for _, w := range want {
			if w.mnemonic == "<unknown>" {
				unknownUntil = max(unknownUntil, w.addr+uint64(len(w.raw))+maxInsnLen)
			}
		}
		resync := uint64(0)
		for _, g := range got {
			if g.bad {
				refused++
				resync = g.addr + maxInsnLen
				if w, ok := byAddr[g.addr]; ok && w.mnemonic != "<unknown>" {
					t.Errorf("%x: disasm refused %x, llvm-objdump reads %s %s", g.addr, g.raw, w.mnemonic, w.operands)
				}
				continue
			}
			w, ok := byAddr[g.addr]
			if !ok {
				if g.addr >= resync && g.addr >= unknownUntil {
					t.Errorf("%x %x %q: llvm-objdump has no instruction there", g.addr, g.raw, g.text)
				}
				continue
			}
			if w.mnemonic == "<unknown>" {
				continue
			}
			if !bytes.Equal(g.raw, w.raw) {
				t.Errorf("%x: disasm %x %q, llvm-objdump %x %s %s", g.addr, g.raw, g.text, w.raw, w.mnemonic, w.operands)
				continue
			}
			if m := mnemonic(g.text); m != mnemonic(w.mnemonic+" "+w.operands) {
				t.Errorf("%x %x: disasm %q, llvm-objdump %s %s", g.addr, g.raw, g.text, w.mnemonic, w.operands)
			}
			checked++
			// A branch's target: llvm-objdump prints it as the operand.
			if w.target == 0 && strings.HasPrefix(w.operands, "0x") && (strings.HasPrefix(w.mnemonic, "j") || w.mnemonic == "call") {
				w.target, _ = strconv.ParseUint(strings.TrimPrefix(w.operands, "0x"), 16, 64)
			}
			if w.target != 0 {
				f := strings.Fields(strings.ReplaceAll(g.text, ";", " "))
				v, ok := hexTarget(f[len(f)-1])
				if !ok || v != w.target {
					t.Errorf("%x %x: disasm %q names %x, llvm-objdump %#x", g.addr, g.raw, g.text, v, w.target)
				}
				targets++
			}
		}
		if checked < len(want)*9/10 {
			t.Errorf("%s: only %d of llvm-objdump's %d instructions checked", name, checked, len(want))
		}
		t.Logf("%s: %d instructions agree (of %d), %d targets, %d bytes refused", name, checked, len(want), targets, refused)
	}
}

// intelText on a few instructions whose text is known: targets named
// when a name is known, left as addresses otherwise.
func TestIntelTextNamesTargets(t *testing.T) {
	name := func(va uint64) string {
		if va == 0x140001000 {
			return "nt!KiSystemCall64"
		}
		return ""
	}
	for _, tc := range []struct {
		code []byte
		at   uint64
		want string
	}{
		{[]byte{0xe8, 0xfb, 0xff, 0xff, 0xff}, 0x140001000, "call nt!KiSystemCall64 (00000001`40001000)"},
		{[]byte{0xe9, 0x00, 0x01, 0x00, 0x00}, 0x140001000, "jmp 00000001`40001105"},
		{[]byte{0x48, 0x8d, 0x05, 0xf9, 0xff, 0xff, 0xff}, 0x140001000, "lea rax, ptr [rip-0x7] ; nt!KiSystemCall64 (00000001`40001000)"},
		{[]byte{0x0f, 0x05}, 0x140001000, "syscall"},
		{[]byte{0x06}, 0x140001000, "(bad)"},
	} {
		in, ok := decodeOne(tc.code, tc.at, name)
		if !ok || in.text != tc.want {
			t.Errorf("% x: %q (%v), want %q", tc.code, in.text, ok, tc.want)
		}
	}
	// A run cut inside an instruction decodes what it can, no more.
	if ins := decodeN([]byte{0x90, 0x48, 0x8b}, 0x1000, 5, nil); len(ins) != 1 || ins[0].text != "nop" {
		t.Errorf("truncated run: %v", ins)
	}
}

// syncTo finds the start from which decoding lands on the wanted
// address, skipping starts that run through it mid-instruction.
func TestSyncTo(t *testing.T) {
	code := []byte{
		0x48, 0xb8, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // mov rax, imm64 (its immediate is nops)
		0x48, 0x83, 0xec, 0x28, // sub rsp, 0x28 at +10
	}
	if got := syncTo(code, 0x1000, 0x100a); got != 0 {
		t.Errorf("syncTo = %d, want 0 (the mov's start)", got)
	}
	// Starting inside the immediate also lands on +10 (nops), but the
	// farthest start is taken first.
	if got := syncTo(code[2:], 0x1002, 0x100a); got != 0 {
		t.Errorf("syncTo from the nops = %d, want 0", got)
	}
	if got := syncTo([]byte{0x06, 0x06, 0x06}, 0x1000, 0x1002); got != 2 {
		t.Errorf("syncTo over refused bytes = %d, want 2 (at itself)", got)
	}
}
