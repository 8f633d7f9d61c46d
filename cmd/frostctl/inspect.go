package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// The prompt's commands act on the held hit: its vCPU, and its process's
// address space (the hit's CR3, with the hit's pid naming user modules).

// defaultDisasm is how many instructions disasm shows, and disasmBefore
// how many of them come before RIP when it shows RIP's surroundings.
const (
	defaultDisasm = 10
	disasmBefore  = 3
	maxDisasm     = 200
	// maxBackScan is how far back before RIP disasm looks for the start
	// of a run of instructions when RIP's function start is unknown or far.
	maxBackScan = 64
	// maxFuncScan is how far the function's start may be for disasm to
	// decode from there to RIP.
	maxFuncScan = 512
	// maxPromptRead bounds read at the prompt: a hexdump for a person.
	maxPromptRead = 1 << 16
)

// name looks va up in the VM's modules, in the hit's process; it caches,
// since a disassembly names the same targets again.
func (h *heldHit) name(ctx context.Context, va uint64) string {
	if n, ok := h.names[va]; ok {
		return n
	}
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := h.sym.LookupAddress(uctx, &pb.LookupAddressRequest{
		Scope: &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: h.vm}}, Address: va, Pid: h.hit.GetPid()})
	n := ""
	if err == nil && resp.GetModule() != "" {
		n = resp.GetName()
	}
	h.names[va] = n
	return n
}

// function is the start of the function holding va, when a symbol names
// it (its offset from the symbol's start).
func (h *heldHit) function(ctx context.Context, va uint64) (uint64, bool) {
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := h.sym.LookupAddress(uctx, &pb.LookupAddressRequest{
		Scope: &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: h.vm}}, Address: va, Pid: h.hit.GetPid()})
	if err != nil || resp.GetSymbol() == "" || resp.GetOffset() > va {
		return 0, false
	}
	return va - resp.GetOffset(), true
}

// registers reads the hit vCPU's register file now.
func (h *heldHit) registers(ctx context.Context) (*pb.Registers, error) {
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	cpu := h.cpu
	resp, err := h.cpuSvc.GetRegisters(uctx, &pb.GetRegistersRequest{Vm: h.vm, Cpu: &cpu})
	if err != nil {
		return nil, err
	}
	if len(resp.GetCpus()) != 1 {
		return nil, fmt.Errorf("frostd answered with %d register files for cpu %d", len(resp.GetCpus()), cpu)
	}
	return resp.GetCpus()[0], nil
}

// generalRegs are the registers regs shows, in WinDbg's order.
var generalRegs = []string{
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rip", "rsp", "rbp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
}

func (h *heldHit) cmdRegs(ctx context.Context, w io.Writer) error {
	r, err := h.registers(ctx)
	if err != nil {
		return err
	}
	m := regMap(r)
	for i, n := range generalRegs {
		sep := " "
		if i%3 == 2 || i == len(generalRegs)-1 {
			sep = "\n"
		}
		fmt.Fprintf(w, "%3s=%016x%s", n, m[n], sep)
	}
	fmt.Fprintf(w, "rflags=%08x %s cs=%04x ss=%04x cr3=%016x\n", m["eflags"], flagsText(m["eflags"]), m["cs"], m["ss"], m["cr3"])
	// As WinDbg's r: where RIP is, and the instruction there.
	return h.disasmFrom(ctx, w, m["rip"], 1)
}

// flagsText names the set status and control flags, as a debugger does.
func flagsText(f uint64) string {
	names := []struct {
		bit  uint
		name string
	}{{0, "cf"}, {2, "pf"}, {4, "af"}, {6, "zf"}, {7, "sf"}, {8, "tf"}, {9, "if"}, {10, "df"}, {11, "of"}}
	var set []string
	for _, n := range names {
		if f&(1<<n.bit) != 0 {
			set = append(set, n.name)
		}
	}
	return "[" + strings.Join(set, " ") + "]"
}

func (h *heldHit) cmdStack(ctx context.Context, w io.Writer) error {
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	cpu := h.cpu
	resp, err := h.cpuSvc.GetStack(uctx, &pb.GetStackRequest{Vm: h.vm, Cpu: &cpu})
	if err != nil {
		return err
	}
	printStackResponse(w, resp)
	return nil
}

// where turns a prompt argument into an address: hex (WinDbg's way), a
// register of the held vCPU (rsp, rcx), or module!symbol[+off] in the
// hit's process.
func (h *heldHit) where(ctx context.Context, s string) (uint64, error) {
	if strings.Contains(s, "!") {
		uctx, cancel := unaryCtx(ctx)
		defer cancel()
		resp, err := h.sym.ResolveSymbol(uctx, &pb.ResolveSymbolRequest{
			Scope: &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: h.vm}}, Symbol: s, Pid: h.hit.GetPid()})
		if err != nil {
			return 0, err
		}
		return resp.GetAddress(), nil
	}
	if v, err := parseAddr("ADDR", s); err == nil {
		return v, nil
	}
	r, err := h.registers(ctx)
	if err != nil {
		return 0, err
	}
	if v, ok := regMap(r)[strings.ToLower(s)]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("%q is not an address, a register or a module!symbol", s)
}

// readCode reads n bytes at va in the hit's address space. It returns the
// bytes readable from va on (up to the first unread piece) and, when the
// read stopped short, why.
func (h *heldHit) readCode(ctx context.Context, va, n uint64) ([]byte, string, error) {
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := h.mem.ReadVirtual(uctx, &pb.ReadVirtualRequest{Vm: h.vm, Space: h.space(), Address: va, Length: n})
	if err != nil {
		return nil, "", err
	}
	data := resp.GetData()
	good := uint64(len(data))
	why := ""
	for _, p := range resp.GetPages() {
		if !p.GetServed() && p.GetOffset() < good {
			good = p.GetOffset()
			why = fmt.Sprintf("%s +%#x: %s", addr(p.GetAddress()), p.GetLength(), pieceState(p))
		}
	}
	return data[:good], why, nil
}

// space is the hit's address space: its CR3 when the hit carried one.
func (h *heldHit) space() *pb.AddressSpace {
	if h.cr3 != 0 {
		return &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: h.cr3}}
	}
	return &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: h.hit.GetPid()}}
}

// cmdDisasm is disasm [ADDR|module!sym] [N]: N instructions from ADDR, or
// without ADDR, RIP's surroundings (a few instructions before it, found
// from its function's start) with RIP marked.
func (h *heldHit) cmdDisasm(ctx context.Context, w io.Writer, args []string) error {
	n := defaultDisasm
	var at uint64
	around := true
	if len(args) > 2 {
		return errors.New("usage: disasm [ADDR|module!symbol] [N]")
	}
	if len(args) >= 1 {
		v, err := h.where(ctx, args[0])
		if err != nil {
			return err
		}
		at, around = v, false
	}
	if len(args) == 2 {
		v, err := parseUint("N", args[1])
		if err != nil {
			return err
		}
		if v == 0 || v > maxDisasm {
			return fmt.Errorf("the count: 1 to %d instructions", maxDisasm)
		}
		n = int(v)
	}
	if around {
		return h.disasmAround(ctx, w, h.rip, n)
	}
	return h.disasmFrom(ctx, w, at, n)
}

func (h *heldHit) disasmFrom(ctx context.Context, w io.Writer, at uint64, n int) error {
	code, why, err := h.readCode(ctx, at, uint64(n*maxInsnLen))
	if err != nil {
		return err
	}
	ins := decodeN(code, at, n, func(va uint64) string { return h.name(ctx, va) })
	h.printDisasm(ctx, w, at, ins, n, why)
	return nil
}

// disasmAround shows n instructions around rip, disasmBefore of them
// before it when they can be found.
func (h *heldHit) disasmAround(ctx context.Context, w io.Writer, rip uint64, n int) error {
	from := rip - min(rip, maxBackScan)
	if f, ok := h.function(ctx, rip); ok && rip-f <= maxFuncScan {
		from = f
	}
	code, why, err := h.readCode(ctx, from, rip-from+uint64(n*maxInsnLen))
	if err != nil {
		return err
	}
	if uint64(len(code)) <= rip-from {
		// Nothing readable up to RIP: show from RIP on, or why not.
		return h.disasmFrom(ctx, w, rip, n)
	}
	start := syncTo(code, from, rip)
	nm := func(va uint64) string { return h.name(ctx, va) }
	all := decodeN(code[start:], from+uint64(start), n+int(rip-from), nm)
	cur := 0
	for cur < len(all) && all[cur].addr != rip {
		cur++
	}
	first := max(0, cur-disasmBefore)
	shown := all[first:min(len(all), first+n)]
	h.printDisasm(ctx, w, from+uint64(start), shown, n, why)
	return nil
}

// printDisasm prints the instructions with a label at a symbol's start,
// and, when fewer than n could be decoded, why.
func (h *heldHit) printDisasm(ctx context.Context, w io.Writer, at uint64, ins []insn, n int, why string) {
	if len(ins) > 0 {
		if name := h.name(ctx, ins[0].addr); name != "" {
			fmt.Fprintf(w, "%s:\n", name)
		}
	}
	printInsns(w, ins, h.rip)
	if len(ins) < n && why != "" {
		next := at
		if len(ins) > 0 {
			last := ins[len(ins)-1]
			next = last.addr + uint64(len(last.raw))
		}
		fmt.Fprintf(w, "   %s ?? not read: %s\n", addr(next), why)
	}
}

func (h *heldHit) cmdRead(ctx context.Context, w io.Writer, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: read ADDR LEN")
	}
	at, err := h.where(ctx, args[0])
	if err != nil {
		return err
	}
	n, err := parseSize("LEN", args[1])
	if err != nil {
		return err
	}
	if n == 0 || n > maxPromptRead {
		return fmt.Errorf("LEN: 1 to %#x bytes at the prompt (frostctl read takes any length)", maxPromptRead)
	}
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := h.mem.ReadVirtual(uctx, &pb.ReadVirtualRequest{Vm: h.vm, Space: h.space(), Address: at, Length: n})
	if err != nil {
		return err
	}
	hexdump(w, at, resp.GetData(), resp.GetPages())
	printUnserved(w, resp.GetPages())
	return nil
}

// cmdStep executes one instruction on the hit's vCPU and shows where it
// went.
func (h *heldHit) cmdStep(ctx context.Context, w io.Writer) error {
	uctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := h.cpuSvc.Step(uctx, &pb.StepRequest{Vm: h.vm, Cpu: h.cpu})
	if err != nil {
		return err
	}
	m := regMap(resp.GetStop().GetRegisters())
	rip, ok := m["rip"]
	if !ok {
		r, err := h.registers(ctx)
		if err != nil {
			return err
		}
		m = regMap(r)
		rip = m["rip"]
	}
	prev := h.rip
	h.rip = rip
	if cr3, ok := m["cr3"]; ok && cr3 != 0 {
		h.cr3 = cr3
	}
	if rip == prev {
		fmt.Fprintf(w, "step: rip did not move from %s\n", addr(rip))
	}
	return h.disasmFrom(ctx, w, rip, 1)
}
