package physmem

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/frostvmi/frost/vmi/qmp"
)

func TestMapTranslate(t *testing.T) {
	gm := fakeMap(t)
	if gm.Block() != "mem" || gm.BlockSize() != fakeBlockSize || gm.End() != fakeHighGPA+1<<20 {
		t.Errorf("map of %q, %#x bytes, end %#x", gm.Block(), gm.BlockSize(), gm.End())
	}
	for _, tc := range []struct{ gpa, off, n uint64 }{
		{0, 0, 0xa0000},
		{0x9ffff, 0x9ffff, 1},
		// The BIOS shadow (read-only RAM) and the RAM above it are one
		// stretch of the block: one run.
		{0xc0000, 0xc0000, 0x140000},
		{0x100000, 0x100000, 0x100000},
		{fakeHighGPA, fakeHighOff, 1 << 20}, // above 4 GiB: offset is not the address
		{fakeHighGPA + 0x1234, fakeHighOff + 0x1234, 1<<20 - 0x1234},
	} {
		off, n, err := gm.Translate(tc.gpa)
		if err != nil || off != tc.off || n != tc.n {
			t.Errorf("Translate(%#x) = %#x, %#x, %v; want %#x, %#x", tc.gpa, off, n, err, tc.off, tc.n)
		}
	}
	want := []Range{{0, 0xa0000, 0, false}, {0xc0000, 0x140000, 0xc0000, false}, {fakeHighGPA, 1 << 20, fakeHighOff, false}}
	if r := gm.Ranges(); !reflect.DeepEqual(r, want) {
		t.Errorf("ranges %+v, want %+v", r, want)
	}
}

func TestMapNotRAM(t *testing.T) {
	gm := fakeMap(t)
	for _, tc := range []struct {
		gpa  uint64
		what string
	}{
		{0xa0000, `i/o region "vga-lowmem"`},
		{0x200000, "unmapped"},
		{0xfd000000, `ram region "vga.vram"`},
		{0xfed00000, `i/o region "hpet"`},
		{0xfffffff0, `rom region "pc.bios"`},
		{fakeHighGPA + 1<<20, "past the end of RAM"},
		{^uint64(0), "past the end of RAM"},
	} {
		_, _, err := gm.Translate(tc.gpa)
		var ne *NotRAMError
		if !errors.As(err, &ne) || ne.GPA != tc.gpa || !strings.Contains(ne.What, tc.what) {
			t.Errorf("Translate(%#x): %v; want a NotRAMError saying %q", tc.gpa, err, tc.what)
		}
	}
}

// The map of a real 5 GiB guest, from captured QEMU output.
func TestMapCaptured5G(t *testing.T) {
	for _, dir := range []string{"tcg-5120", "kvm-5120"} {
		gm := capturedMap(t, dir)
		if gm.Block() != "mem" || gm.BlockSize() != 5120<<20 {
			t.Errorf("%s: block %q of %#x bytes", dir, gm.Block(), gm.BlockSize())
		}
		off, _, err := gm.Translate(0x100000000 + 0x5000)
		if err != nil || off != 0xc0000000+0x5000 {
			t.Errorf("%s: high GPA at offset %#x, %v", dir, off, err)
		}
		if _, _, err := gm.Translate(0xc0000000); err == nil {
			t.Errorf("%s: the PCI hole translated", dir)
		}
		if gm.End() != 0x180000000 {
			t.Errorf("%s: end %#x", dir, gm.End())
		}
	}
	if gm := capturedMap(t, "tcg-private"); gm.Block() != "pc.ram" {
		t.Errorf("private RAM block %q", gm.Block())
	}
	// libvirt's domain has no VGA: the legacy VGA window is RAM.
	gm := capturedMap(t, "libvirt")
	if off, _, err := gm.Translate(0xa0000); gm.Block() != "pc.ram" || err != nil || off != 0xa0000 {
		t.Errorf("libvirt map: block %q, 0xa0000 at %#x, %v", gm.Block(), off, err)
	}
}

func capturedMap(t *testing.T, dir string) *Map {
	t.Helper()
	read := func(name string) string { return readCaptured(t, dir, name) }
	views, err := qmp.ParseMemoryTree(read("mtree.txt"))
	if err != nil {
		t.Fatal(err)
	}
	view, err := qmp.SystemView(views)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := qmp.ParseRAMBlocks(read("ramblock.txt"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := GuestRAMBlock(view, blocks)
	if err != nil {
		t.Fatal(err)
	}
	gm, err := NewMap(view, block)
	if err != nil {
		t.Fatal(err)
	}
	return gm
}

// readCaptured reads a file of QEMU output captured in vmi/qmp's testdata.
func readCaptured(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "qmp", "testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMapErrors(t *testing.T) {
	views, _ := qmp.ParseMemoryTree(fakeMtree)
	view, _ := qmp.SystemView(views)
	for _, tc := range []struct {
		name  string
		block qmp.RAMBlock
	}{
		{"empty block", qmp.RAMBlock{Name: "mem"}},
		{"block smaller than its ranges", qmp.RAMBlock{Name: "mem", Used: 2 << 20, Total: 2 << 20}},
		{"block not in the view", qmp.RAMBlock{Name: "other", Used: 1 << 30, Total: 1 << 30}},
	} {
		var me *MapError
		if _, err := NewMap(view, tc.block); !errors.As(err, &me) {
			t.Errorf("%s: got %v, want *MapError", tc.name, err)
		}
	}
	if _, err := GuestRAMBlock(view, nil); err == nil {
		t.Error("GuestRAMBlock found a block in an empty list")
	}
	if _, err := GuestRAMBlock(&qmp.FlatView{}, nil); err == nil {
		t.Error("GuestRAMBlock found RAM in an empty view")
	}
}
