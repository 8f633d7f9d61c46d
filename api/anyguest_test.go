package api

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// A breakpoint at a raw address needs no Windows kernel (issue 14): on a
// guest with no symbols at all (frostd without a symbol path, or a guest
// that is not Windows), a kernel address arms, and so does a user address
// whose address space one DTB names. What needs Windows still says so.
func TestRawBreakpointsOnAnyGuest(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	addVM(t, c, "linux", tg)
	s := &breakpointService{c: c}
	ctx := context.Background()
	set := func(spec *pb.BreakpointSpec) (*pb.SetBreakpointResponse, error) {
		return s.SetBreakpoint(ctx, &pb.SetBreakpointRequest{Vm: "linux", Spec: spec})
	}
	r, err := set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0xffffffff81367680}})
	if err != nil {
		t.Fatalf("a kernel address without a Windows kernel: %v", err)
	}
	if r.GetBreakpoint().GetAddress() != 0xffffffff81367680 || len(tg.Armed()) != 1 {
		t.Errorf("armed %v; the stub has %v", r.GetBreakpoint(), tg.Armed())
	}
	if _, err := set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0x401000},
		Filter: &pb.BreakpointFilter{Dtbs: []uint64{0x1aa000}}}); err != nil {
		t.Fatalf("a user address in one DTB: %v", err)
	}
	if l, err := s.ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: "linux"}); err != nil || len(l.GetBreakpoints()) != 2 {
		t.Errorf("listed %v, %v", l, err)
	}
	_, err = set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"}})
	if status.Code(err) != codes.FailedPrecondition || reasonOf(err) != pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND {
		t.Errorf("a Windows symbol without symbols: %v", err)
	}
	if tg.Count(vmitest.OpPause) != 0 {
		t.Error("arming a raw breakpoint stopped the guest to look for a kernel")
	}
}

// linuxTables lays out x86-64 page tables as Linux builds them in tg's
// RAM: a user page (NX, the OS's own high bits), the kernel text in a 2M
// page, and a swapped-out user page whose entry only Linux can read. It
// returns the PGD's address.
func linuxTables(t *testing.T, tg *vmitest.Target) uint64 {
	t.Helper()
	const pgd, pud, pmd, pte, data = 0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000, 0x10_4000
	const kpud, kpmd = 0x10_5000, 0x10_6000
	put := func(pa, v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		if err := tg.Poke(pa, b[:]); err != nil {
			t.Fatal(err)
		}
	}
	const user, text = 0x7fff_f000_0000, 0xffff_ffff_8100_0000
	idx := func(va uint64, shift uint) uint64 { return (va >> shift) & 511 * 8 }
	put(pgd+idx(user, 39), pud|0x67)
	put(pud+idx(user, 30), pmd|0x67)
	put(pmd+idx(user, 21), pte|0x67)
	put(pte+idx(user, 12), data|0x67|1<<63|1<<58)
	put(pte+idx(user+0x1000, 12), ^uint64(0x3000)&^1) // a swap entry
	put(pgd+idx(text, 39), kpud|0x63)
	put(kpud+idx(text, 30), kpmd|0x63)
	put(kpmd+idx(text, 21), 0x100_0000|0xe3) // 2M, global
	if err := tg.Poke(data+0x10, []byte("frost-write 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := tg.Poke(0x100_0000+0x1234, []byte{0xf3, 0x0f, 0x1e, 0xfa}); err != nil {
		t.Fatal(err)
	}
	return pgd
}

// Virtual memory through a DTB works on any x86-64 guest (issue 14): with
// no Windows kernel in the guest, reads, vtop and vadmap walk the page
// tables as the processor does and say so; a pid or the kernel's space
// needs Windows and fails fast, naming what it looked for, and the miss is
// remembered without stopping the guest again.
func TestVirtualMemoryOnAnyGuest(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux", RAM: 32 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	pgd := linuxTables(t, tg)
	// A Linux kernel stopped in 64-bit mode: its addresses lead to no PE.
	if err := tg.SetRegs(vmi.CPU{Pid: 1, Tid: 1}, map[string]uint64{
		"cs": 0x10, "rip": 0xffff_ffff_8100_1234, "efer": 0xd01, "cr0": 0x8005_0033, "cr3": pgd | 0x801,
	}); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{Symbols: st})
	addVM(t, c, "linux", tg)
	m := &memoryService{c: c}
	ctx := context.Background()
	dtb := &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: pgd | 0x801}} // a PCID in the low bits

	r, err := m.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "linux", Space: dtb, Address: 0x7fff_f000_0010, Length: 14})
	if err != nil || string(r.GetData()) != "frost-write 1\n" || r.GetModel() != pb.TranslationModel_TRANSLATION_MODEL_X86_64 {
		t.Fatalf("read: %q model %v, %v", r.GetData(), r.GetModel(), err)
	}
	searches := tg.Count(vmitest.OpPause)
	if searches != 1 {
		t.Errorf("the first call stopped the guest %d times to look for a kernel, want 1", searches)
	}
	if running, _ := tg.Running(); !running {
		t.Error("the guest was left stopped")
	}
	tr, err := m.Translate(ctx, &pb.TranslateRequest{Vm: "linux", Space: dtb, Address: 0xffff_ffff_8100_1234})
	p := tr.GetProvenance()
	if err != nil || p.GetLocation().GetAddress() != 0x100_1234 || p.GetLocation().GetPageSize() != 2<<20 ||
		p.GetModel() != pb.TranslationModel_TRANSLATION_MODEL_X86_64 || !strings.Contains(p.GetText(), "[x86-64] Valid") {
		t.Errorf("vtop of kernel text: %v, %v", p, err)
	}
	vm, err := m.VadMap(ctx, &pb.VadMapRequest{Vm: "linux", Space: dtb, Start: 0x7fff_f000_0000, End: 0x7fff_f000_2000})
	runs := vm.GetRuns()
	if err != nil || len(runs) != 2 || runs[0].GetLocation().GetState() != pb.PageState_PAGE_STATE_VALID ||
		runs[1].GetLocation().GetState() != pb.PageState_PAGE_STATE_NOT_MAPPED || vm.GetModel() != pb.TranslationModel_TRANSLATION_MODEL_X86_64 {
		t.Errorf("vadmap: %v, %v", runs, err)
	}
	if _, err := m.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "linux", Space: dtb, Address: 0x7fff_f000_1000, Length: 16}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("read of a swapped-out page only: %v, want FailedPrecondition (nothing readable)", err)
	}

	// What needs Windows fails fast and says what it looked for.
	for _, sp := range []*pb.AddressSpace{{Space: &pb.AddressSpace_Pid{Pid: 1}}, {Space: &pb.AddressSpace_Kernel{Kernel: true}}} {
		_, err := m.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "linux", Space: sp, Address: 0x7fff_f000_0010, Length: 8})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no Windows kernel found in this guest") ||
			!strings.Contains(err.Error(), "ntkrnlmp.pdb") {
			t.Errorf("read in %v: %v", sp, err)
		}
	}
	if n := tg.Count(vmitest.OpPause); n != searches {
		t.Errorf("later calls stopped the guest to look for the kernel again (%d stops, %d after the first)", n, searches)
	}
	g, err := (&vmService{c: c}).GetVM(ctx, &pb.GetVMRequest{Vm: "linux"})
	if ks := g.GetVm().GetKernelSearch(); err == nil && (!ks.GetSearched() || !ks.GetUntilReset() || ks.GetError() == "") {
		t.Errorf("GetVM's kernel search: %v", ks)
	}
}

// A frostd without symbols reads any guest's memory through a DTB too, as
// the processor walks it, and never stops the guest to look for a kernel
// it could not open.
func TestVirtualMemoryWithoutSymbols(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux", RAM: 32 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	pgd := linuxTables(t, tg)
	c := testConfig(&Config{})
	addVM(t, c, "linux", tg)
	m := &memoryService{c: c}
	r, err := m.ReadVirtual(context.Background(), &pb.ReadVirtualRequest{Vm: "linux",
		Space: &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: pgd}}, Address: 0x7fff_f000_0010, Length: 14})
	if err != nil || string(r.GetData()) != "frost-write 1\n" || r.GetModel() != pb.TranslationModel_TRANSLATION_MODEL_X86_64 {
		t.Fatalf("read: %q model %v, %v", r.GetData(), r.GetModel(), err)
	}
	if n := tg.Count(vmitest.OpPause); n != 0 {
		t.Errorf("the guest was stopped %d times", n)
	}
}
