package pe

import (
	"bytes"
	dpe "debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/frostvmi/frost/symbols/pdb"
)

// pdbIdentity reads a PDB's identity with the pdb package.
func pdbIdentity(t *testing.T, path string) symbols.Identity {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	id, err := pdb.ReadIdentity(f, st.Size(), filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// images returns the PE files the tests use, each with its PDB.
func images(t *testing.T) map[string]string {
	t.Helper()
	out := testenv.GuestOut(t, "ntoskrnl.exe")
	src, err := filepath.Abs(filepath.Join("..", "pdb", "testdata", "tricky.c"))
	if err != nil {
		t.Fatal(err)
	}
	trickyPDB, trickyExe := testenv.BuildPDB(t, src, "TrickyEntry")
	return map[string]string{
		filepath.Join(out, "ntoskrnl.exe"): filepath.Join(out, "ntkrnlmp.pdb"),
		filepath.Join(out, "hal.dll"):      filepath.Join(out, "hal.pdb"),
		trickyExe:                          trickyPDB,
	}
}

// TestFileIdentity: each image's RSDS names its own PDB with the PDB's
// GUID and age, and SizeOfImage covers every section.
func TestFileIdentity(t *testing.T) {
	for exe, pdbPath := range images(t) {
		img, err := Open(exe)
		if err != nil {
			t.Errorf("%s: %v", exe, err)
			continue
		}
		want := pdbIdentity(t, pdbPath)
		if img.ID.GUID != want.GUID || img.ID.Age != want.Age || img.ID.PDBName != filepath.Base(pdbPath) {
			t.Errorf("%s: RSDS %s, the PDB is %s", filepath.Base(exe), img.ID, want)
		}
		f, err := dpe.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		var end uint32
		for _, s := range f.Sections {
			end = max(end, s.VirtualAddress+s.VirtualSize)
		}
		f.Close()
		if img.SizeOfImage < end || img.SizeOfImage-end >= 0x1000 || img.Machine != 0x8664 {
			t.Errorf("%s: SizeOfImage %#x, sections end at %#x; machine %#x", filepath.Base(exe), img.SizeOfImage, end, img.Machine)
		}
	}
	img, err := Open(filepath.Join(testenv.GuestOut(t, "ntoskrnl.exe"), "ntoskrnl.exe"))
	if err == nil && img.ID.PDBName != "ntkrnlmp.pdb" {
		t.Errorf("ntoskrnl.exe names %q", img.ID.PDBName)
	}
}

// guestMemory is an image in mapped layout at a kernel address, with
// pages that can be made unreadable.
type guestMemory struct {
	base    uint64
	mem     []byte
	missing map[uint64]bool
}

func (g *guestMemory) ReadAt(p []byte, addr uint64) (int, error) {
	for a := addr &^ (PageSize - 1); a < addr+uint64(len(p)); a += PageSize {
		if g.missing[a] {
			return 0, fmt.Errorf("page %#x not present", a)
		}
	}
	if addr < g.base || addr-g.base+uint64(len(p)) > uint64(len(g.mem)) {
		return 0, fmt.Errorf("%#x is outside the image", addr)
	}
	return copy(p, g.mem[addr-g.base:]), nil
}

// mapImage lays a PE file out as the loader would.
func mapImage(t *testing.T, path string) *guestMemory {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dpe.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	g := &guestMemory{base: 0xfffff80012340000, mem: make([]byte, oh.SizeOfImage), missing: map[uint64]bool{}}
	copy(g.mem, raw[:oh.SizeOfHeaders])
	for _, s := range f.Sections {
		data, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		copy(g.mem[s.VirtualAddress:], data[:min(len(data), int(s.VirtualSize))])
	}
	// Point every debug entry's file offset at nothing, so a reader that
	// uses PointerToRawData instead of AddressOfRawData fails.
	dd := oh.DataDirectory[debugDirIndex]
	for off := dd.VirtualAddress; off+debugEntrySize <= dd.VirtualAddress+dd.Size; off += debugEntrySize {
		copy(g.mem[off+entryFilePtr:], []byte{0xf0, 0xff, 0xff, 0x7f})
	}
	return g
}

func TestMapped(t *testing.T) {
	for exe := range images(t) {
		want, err := Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		g := mapImage(t, exe)
		got, err := Mapped(g, g.base)
		if err != nil {
			t.Errorf("%s: %v", exe, err)
			continue
		}
		if got != want {
			t.Errorf("%s: mapped %+v, file %+v", filepath.Base(exe), got, want)
		}
	}
}

// TestMappedUnreadable: the pages that could not be read are named.
func TestMappedUnreadable(t *testing.T) {
	exe := filepath.Join(testenv.GuestOut(t, "ntoskrnl.exe"), "ntoskrnl.exe")
	g := mapImage(t, exe)
	f, err := dpe.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	dd := f.OptionalHeader.(*dpe.OptionalHeader64).DataDirectory[debugDirIndex]
	f.Close()
	// Move the RSDS record to the image's last page, apart from the
	// directory, so each read has a page of its own.
	entry := g.mem[dd.VirtualAddress:]
	rva := binary.LittleEndian.Uint32(entry[entryRVA:])
	size := binary.LittleEndian.Uint32(entry[entrySizeOfData:])
	moved := uint32(len(g.mem)) - size
	copy(g.mem[moved:], g.mem[rva:rva+size])
	binary.LittleEndian.PutUint32(entry[entryRVA:], moved)
	if moved&^(PageSize-1) == dd.VirtualAddress&^(PageSize-1) {
		t.Fatal("the debug directory is on the image's last page")
	}
	if img, err := Mapped(g, g.base); err != nil || img.ID.PDBName != "ntkrnlmp.pdb" {
		t.Fatalf("after moving the record: %+v, %v", img, err)
	}
	rva = moved
	for what, page := range map[string]uint64{
		"DOS header":      g.base,
		"debug directory": (g.base + uint64(dd.VirtualAddress)) &^ (PageSize - 1),
		"CodeView record": (g.base + uint64(rva)) &^ (PageSize - 1),
	} {
		g.missing = map[uint64]bool{page: true}
		_, err := Mapped(g, g.base)
		var ue *UnreadableError
		if !errors.As(err, &ue) || ue.What != what || len(ue.Pages) != 1 || ue.Pages[0] != page {
			t.Errorf("page %#x unreadable: %v; want the %s's page named", page, err, what)
		}
	}
}

func TestParseRSDS(t *testing.T) {
	rec := append([]byte("RSDS"), make([]byte, 20)...)
	rec[4], rec[20] = 0x69, 0x1a
	cv, err := ParseRSDS(append(rec, `d:\os\obj\amd64fre\ntkrnlmp.pdb`+"\x00"...))
	if err != nil || cv.ID.PDBName != "ntkrnlmp.pdb" || cv.ID.Age != 26 || cv.Path != `d:\os\obj\amd64fre\ntkrnlmp.pdb` {
		t.Errorf("ParseRSDS = %+v, %v", cv, err)
	}
	for name, b := range map[string][]byte{
		"short":    rec[:10],
		"no name":  append(append([]byte(nil), rec...), 0),
		"no nul":   append(append([]byte(nil), rec...), "x.pdb"...),
		"NB10":     append(append([]byte("NB10"), rec[4:]...), "x.pdb\x00"...),
		"dir only": append(append([]byte(nil), rec...), `c:\dir\`+"\x00"...),
		"bad utf8": append(append([]byte(nil), rec...), "\xff.pdb\x00"...),
		"too long": append(append([]byte(nil), rec...), make([]byte, MaxCodeView)...),
	} {
		if _, err := ParseRSDS(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

// TestMappedMalformed: lies in the headers give errors, not panics or
// reads of what they claim.
func TestMappedMalformed(t *testing.T) {
	exe := filepath.Join(testenv.GuestOut(t, "ntoskrnl.exe"), "ntoskrnl.exe")
	good := mapImage(t, exe)
	lfanew := uint32(good.mem[0x3c]) | uint32(good.mem[0x3d])<<8
	opt := lfanew + 24
	put32 := func(b []byte, off uint32, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	for name, mutate := range map[string]func(b []byte){
		"no MZ":             func(b []byte) { b[0] = 'X' },
		"lfanew huge":       func(b []byte) { put32(b, 0x3c, 0x7fffffff) },
		"no PE":             func(b []byte) { b[lfanew] = 'X' },
		"bad magic":         func(b []byte) { b[opt] = 0 },
		"SizeOfImage 4 GiB": func(b []byte) { put32(b, opt+56, 0xffffffff) },
		"debug dir huge":    func(b []byte) { put32(b, opt+112+6*8+4, 0x7fffffff) },
		"debug dir outside": func(b []byte) { put32(b, opt+112+6*8, 0xfffff000) },
		"no debug dir":      func(b []byte) { put32(b, opt+112+6*8+4, 0) },
		"few directories":   func(b []byte) { put32(b, opt+108, 3) },
		"tiny opt header":   func(b []byte) { b[lfanew+20], b[lfanew+21] = 100, 0 },
	} {
		g := &guestMemory{base: good.base, mem: append([]byte(nil), good.mem...), missing: map[uint64]bool{}}
		mutate(g.mem)
		if _, err := Mapped(g, g.base); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

// mappedLayout lays raw PE file bytes out as the loader would, or returns
// nil if they are not a PE32+ file.
func mappedLayout(raw []byte) []byte {
	f, err := dpe.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*dpe.OptionalHeader64)
	if !ok || oh.SizeOfImage > 1<<20 || int(oh.SizeOfHeaders) > len(raw) {
		return nil
	}
	mem := make([]byte, oh.SizeOfImage)
	copy(mem, raw[:oh.SizeOfHeaders])
	for _, s := range f.Sections {
		data, err := s.Data()
		if err != nil {
			return nil
		}
		copy(mem[s.VirtualAddress:], data[:min(len(data), int(s.VirtualSize))])
	}
	return mem
}
