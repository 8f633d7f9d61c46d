package qmp

import (
	"errors"
	"strings"
	"testing"
)

func systemView(t *testing.T, file string) *FlatView {
	t.Helper()
	views, err := ParseMemoryTree(readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := SystemView(views)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// QEMU 7.2 orders FlatViews differently from run to run: under TCG the
// SMM view (cpu-smm-0), which maps RAM where the system view has VGA, is
// #0 in one capture and #3 in another. The system view is found by name.
func TestSystemViewTCG(t *testing.T) {
	for file, index := range map[string]int{"tcg-128/mtree.txt": 2, "tcg-128-smm-first/mtree.txt": 2} {
		t.Run(file, func(t *testing.T) { checkTCG128(t, file, index) })
	}
}

func checkTCG128(t *testing.T, file string, index int) {
	v := systemView(t, file)
	if v.Index != index || v.Root != "system" {
		t.Errorf("picked FlatView #%d root %q, want #%d root system", v.Index, v.Root, index)
	}
	// The SMM view maps RAM at 0xa0000; the system view has VGA there.
	if r, ok := v.Lookup(0xa0000); !ok || r.Type != "i/o" || r.Region != "vga-lowmem" {
		t.Errorf("0xa0000 is %+v, want the vga-lowmem i/o range", r)
	}
	want := Range{Start: 0x100000, Last: 0x7ffffff, Type: "ram", Region: "mem", Offset: 0x100000}
	if r, _ := v.Lookup(0x200000); !rangeEqual(r, want) {
		t.Errorf("0x200000 is %+v, want %+v", r, want)
	}
	if r, _ := v.Lookup(0); r.Region != "mem" || r.Offset != 0 || r.Type != "ram" {
		t.Errorf("GPA 0 is %+v", r)
	}
	// The BIOS shadow is RAM mapped read-only: "rom" but RAM block memory.
	if r, _ := v.Lookup(0xf0000); r.Type != "rom" || r.Region != "mem" || !r.IsRAM() {
		t.Errorf("0xf0000 is %+v, want read-only mem", r)
	}
	if r, _ := v.Lookup(0xfebf0400); r.Region != "vga ioports remapped" {
		t.Errorf("a region name with spaces came out as %q", r.Region)
	}
	if _, ok := v.Lookup(0x8000000); ok {
		t.Error("0x8000000 (past 128 MiB) is mapped")
	}
}

// With -m 5120 the PC splits RAM at 3 GiB: the part above 4 GiB is an
// alias whose offset in the RAM block is 0xc0000000, not its address.
func TestSystemViewHighRAM(t *testing.T) {
	for _, file := range []string{"tcg-5120/mtree.txt", "kvm-5120/mtree.txt"} {
		v := systemView(t, file)
		r, ok := v.Lookup(0x100000000 + 0x1234)
		want := Range{Start: 0x100000000, Last: 0x17fffffff, Type: "ram", Region: "mem", Offset: 0xc0000000}
		r.Accels = nil // "KVM" under KVM
		if !ok || !rangeEqual(r, want) {
			t.Errorf("%s: high RAM is %+v, want %+v", file, r, want)
		}
		low, _ := v.Lookup(0xbfffffff)
		if low.Start != 0x100000 || low.Offset != 0x100000 {
			t.Errorf("%s: low RAM is %+v", file, low)
		}
		if _, ok := v.Lookup(0xc0000000); ok {
			t.Errorf("%s: the PCI hole at 3 GiB is mapped", file)
		}
	}
}

// Under KVM, QEMU appends the accelerator to each range it maps.
func TestMemoryTreeKVMSuffix(t *testing.T) {
	v := systemView(t, "kvm-5120/mtree.txt")
	if v.Index != 0 {
		t.Errorf("picked #%d, want #0", v.Index)
	}
	r, _ := v.Lookup(0xfd000000)
	if r.Region != "vga.vram" || len(r.Accels) != 1 || r.Accels[0] != "KVM" {
		t.Errorf("vga.vram range %+v", r)
	}
	r, _ = v.Lookup(0)
	if r.Region != "mem" || r.Offset != 0 {
		t.Errorf("GPA 0 range %+v", r)
	}
}

func TestMemoryTreePrivateRAM(t *testing.T) {
	v := systemView(t, "tcg-private/mtree.txt")
	if r, _ := v.Lookup(0x100000); r.Region != "pc.ram" {
		t.Errorf("RAM region %q, want pc.ram", r.Region)
	}
}

// The view QEMU prints first can be the empty bus-master one ("No
// rendered FlatView"), as under KVM in platform-facts.md.
func TestSystemViewSkipsEmpty(t *testing.T) {
	text := "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  No rendered FlatView\n\n" +
		"FlatView #1\n AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n Root memory region: system\n" +
		"  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram KVM\n"
	views, err := ParseMemoryTree(text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := SystemView(views)
	if err != nil || v.Index != 1 {
		t.Fatalf("got %+v, %v; want view #1", v, err)
	}
}

func TestSystemViewFallback(t *testing.T) {
	views, err := ParseMemoryTree("FlatView #0\n AS \"I/O\", root: io\n  0000-0007 (prio 0, i/o): dma\n" +
		"FlatView #1\n AS \"other\", root: x\n  0000000000000000-0000000000ffffff (prio 0, ram): ram0\n")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := SystemView(views); err != nil || v.Index != 1 {
		t.Errorf("got %v, %v; want the first view with RAM", v, err)
	}
	if _, err := SystemView(views[:1]); err == nil {
		t.Error("a map without RAM gave a system view")
	}
}

func TestParseRangeForms(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Range
	}{
		{"  00000000febf0180-00000000febf03ff (prio 1, i/o): vga.mmio @0000000000000180",
			Range{Start: 0xfebf0180, Last: 0xfebf03ff, Priority: 1, Type: "i/o", Region: "vga.mmio", Offset: 0x180}},
		{"  0000000000000000-ffffffffffffffff (prio -1, i/o): ",
			Range{Start: 0, Last: ^uint64(0), Priority: -1, Type: "i/o"}},
		{"  0000000000000000-0000000000000fff (prio 0, i/o):",
			Range{Last: 0xfff, Type: "i/o"}},
		{"  0000000000000000-0000000000000fff (prio 0, nv-ram): pmem @0000000000001000 KVM",
			Range{Last: 0xfff, Type: "ram", NonVolatile: true, Region: "pmem", Offset: 0x1000, Accels: []string{"KVM"}}},
		{"  00000000fffc0000-00000000ffffffff (prio 0, romd): system.flash0",
			Range{Start: 0xfffc0000, Last: 0xffffffff, Type: "romd", Region: "system.flash0"}},
	} {
		views, err := ParseMemoryTree("FlatView #0\n" + tc.line + "\n")
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if got := views[0].Ranges[0]; !rangeEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
	if r := (Range{Start: 0, Last: ^uint64(0)}); r.Len() != 0 {
		t.Errorf("a 2^64 range has Len %d, want 0", r.Len())
	}
}

func TestParseMemoryTreeErrors(t *testing.T) {
	for _, text := range []string{
		"",
		"garbage\n",
		"  0000000000000000-0000000000000fff (prio 0, ram): before-any-view\n",
		"FlatView #x\n",
		"FlatView #0\n  0000000000001000-0000000000000fff (prio 0, ram): backwards\n",
		"FlatView #0\n  0000000000000000-0000000000000fff (prio 0, weird): t\n",
		"FlatView #0\n  0000000000000000-0000000000000fff (prio x, ram): t\n",
		"FlatView #0\n  0000000000000000-zz (prio 0, ram): t\n",
		"FlatView #0\n  0000000000000000-0000000000000fff prio 0, ram: t\n",
		"FlatView #0\n  0000000000000000-0000000000000fff (prio 0, ram): a\n  0000000000000800-0000000000001fff (prio 0, ram): b\n",
		"FlatView #0\n  10000000000000000-0000000000000fff (prio 0, ram): toolarge\n",
		"FlatView #0\n AS \"memory\n",
	} {
		_, err := ParseMemoryTree(text)
		var me *MemoryTreeError
		if !errors.As(err, &me) {
			t.Errorf("%q: got %v, want *MemoryTreeError", text, err)
		}
	}
	big := "FlatView #0\n" + strings.Repeat("\n", maxMemoryTreeLines)
	if _, err := ParseMemoryTree(big); err == nil {
		t.Error("an oversized output was parsed")
	}
}

func rangeEqual(a, b Range) bool {
	if a.Start != b.Start || a.Last != b.Last || a.Priority != b.Priority || a.Type != b.Type ||
		a.NonVolatile != b.NonVolatile || a.Region != b.Region || a.Offset != b.Offset || len(a.Accels) != len(b.Accels) {
		return false
	}
	for i := range a.Accels {
		if a.Accels[i] != b.Accels[i] {
			return false
		}
	}
	return true
}

// A libvirt domain from qemu.NewDomain, read through the QMP passthrough:
// no VGA device, so 0xa0000-0xbffff is plain RAM, and the backend is
// libvirt's "pc.ram" memory-backend-file.
func TestSystemViewLibvirt(t *testing.T) {
	v := systemView(t, "libvirt/mtree.txt")
	if v.Index != 0 {
		t.Errorf("picked #%d", v.Index)
	}
	r, ok := v.Lookup(0xa0000)
	if !ok || r.Region != "pc.ram" || r.Type != "ram" || r.Start != 0 || r.Last != 0xc2fff {
		t.Errorf("0xa0000 is %+v", r)
	}
}
