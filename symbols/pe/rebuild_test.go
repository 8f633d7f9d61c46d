package pe

import (
	"bytes"
	dpe "debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// readobjParses runs llvm-readobj on file and fails t on any complaint.
func readobjParses(t *testing.T, file []byte, name string) string {
	t.Helper()
	testenv.RequireTools(t, "llvm-readobj")
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(testenv.Run(t, "", "llvm-readobj", "--file-headers", "--sections", p))
	if strings.Contains(out, "warning") || strings.Contains(out, "error") {
		t.Errorf("%s: llvm-readobj complains:\n%s", name, out)
	}
	return p
}

// debugPointerFields are the offsets, in the section's raw data, of each
// debug entry's PointerToRawData: Rebuild points them at the new layout.
func debugPointerFields(f *dpe.File, s *dpe.Section) map[uint32]bool {
	out := map[uint32]bool{}
	var dd dpe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *dpe.OptionalHeader64:
		dd = oh.DataDirectory[DirDebug]
	case *dpe.OptionalHeader32:
		dd = oh.DataDirectory[DirDebug]
	}
	for off := dd.VirtualAddress; off+debugEntrySize <= dd.VirtualAddress+dd.Size; off += debugEntrySize {
		if off >= s.VirtualAddress && off < s.VirtualAddress+s.VirtualSize {
			for i := uint32(0); i < 4; i++ {
				out[off-s.VirtualAddress+entryFilePtr+i] = true
			}
		}
	}
	return out
}

// checkRebuilt checks a rebuilt image against the file it was loaded
// from: it parses, every section holds the file's bytes where the file
// had them (memory's zeros after), and the header says the new layout.
func checkRebuilt(t *testing.T, l *loaded, r *Rebuilt) *dpe.File {
	t.Helper()
	name := filepath.Base(l.path)
	f, err := dpe.NewFile(bytes.NewReader(r.File))
	if err != nil {
		t.Fatalf("%s: debug/pe: %v", name, err)
	}
	readobjParses(t, r.File, name)
	var imageBase uint64
	var fa, sum uint32
	var sec dpe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *dpe.OptionalHeader64:
		imageBase, fa, sum, sec = oh.ImageBase, oh.FileAlignment, oh.CheckSum, oh.DataDirectory[DirSecurity]
	case *dpe.OptionalHeader32:
		imageBase, fa, sum, sec = uint64(oh.ImageBase), oh.FileAlignment, oh.CheckSum, oh.DataDirectory[DirSecurity]
	}
	if imageBase != l.g.base || fa != r.Headers.FileAlignment || sec != (dpe.DataDirectory{}) {
		t.Errorf("%s: ImageBase %#x (loaded at %#x), FileAlignment %#x (was %#x), certificate %+v", name, imageBase, l.g.base,
			fa, r.Headers.FileAlignment, sec)
	}
	zeroed := append([]byte(nil), r.File...)
	binary.LittleEndian.PutUint32(zeroed[r.Headers.LfaNew+24+64:], 0)
	if want := checksum(zeroed); sum != want {
		t.Errorf("%s: checksum %#x, want %#x", name, sum, want)
	}
	if len(f.Sections) != len(l.f.Sections) {
		t.Fatalf("%s: %d sections, was %d", name, len(f.Sections), len(l.f.Sections))
	}
	for i, s := range f.Sections {
		orig := l.f.Sections[i]
		mapped := orig.VirtualSize
		if mapped == 0 {
			mapped = orig.Size
		}
		if s.VirtualAddress != orig.VirtualAddress || s.VirtualSize != orig.VirtualSize || s.Size != uint32(alignUp(uint64(mapped), uint64(fa))) ||
			s.Offset%fa != 0 {
			t.Errorf("%s: section %s at %#x+%#x raw %#x+%#x; was %#x+%#x", name, s.Name, s.VirtualAddress, s.VirtualSize, s.Offset, s.Size,
				orig.VirtualAddress, orig.VirtualSize)
		}
		data, err := s.Data()
		if err != nil {
			t.Fatalf("%s: section %s: %v", name, s.Name, err)
		}
		fromFile := min(mapped, orig.Size)
		want := l.raw[orig.Offset : orig.Offset+fromFile]
		skip := debugPointerFields(l.f, orig)
		for j := range data {
			w := byte(0) // memory past the file's bytes, and padding
			if j < int(fromFile) {
				w = want[j]
			}
			if data[j] != w && !skip[uint32(j)] {
				t.Errorf("%s: section %s byte %#x is %#x, the file's %#x", name, s.Name, j, data[j], w)
				break
			}
		}
	}
	return f
}

// TestRebuildGuest: each mini-NT image, and a real 32-bit Windows image,
// rebuilt from memory parses with debug/pe and llvm-readobj, holds the
// file's section bytes, and keeps its exports, .pdata and RSDS identity.
func TestRebuildGuest(t *testing.T) {
	images := guestImages(t)
	images[signedPE32(t)] = 0x400000
	for path, base := range images {
		name := filepath.Base(path)
		l := loadFile(t, path, base)
		r, err := Rebuild(l.g, base)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(r.Unreadable) != 0 {
			t.Errorf("%s: unreadable %#x", name, r.Unreadable)
		}
		checkHeaders(t, l, r.Headers)
		checkRebuilt(t, l, r)
		p := readobjParses(t, r.File, name)
		if r.Headers.Machine != 0x8664 {
			continue
		}
		if fmt.Sprint(readobjExports(t, p)) != fmt.Sprint(readobjExports(t, path)) {
			t.Errorf("%s: exports changed", name)
		}
		if fmt.Sprint(readobjUnwind(t, p, base)) != fmt.Sprint(readobjUnwind(t, path, r.Headers.ImageBase)) {
			t.Errorf("%s: .pdata changed", name)
		}
		// The identity read through the debug entry's new file offset.
		want, err := Open(path)
		if err != nil {
			continue // no CodeView record
		}
		got, err := Read(bytes.NewReader(r.File))
		if err != nil || got != want {
			t.Errorf("%s: identity %+v, %v; was %+v", name, got, err, want)
		}
		for _, e := range debugEntries(t, r.File) {
			if e.ptr == 0 || !bytes.Equal(r.File[e.ptr:e.ptr+4], []byte("RSDS")) {
				t.Errorf("%s: debug entry %+v does not point at its record", name, e)
			}
		}
	}
}

type debugEntry struct{ typ, size, rva, ptr uint32 }

// debugEntries reads the debug directory of a PE file by file offset.
func debugEntries(t *testing.T, file []byte) []debugEntry {
	t.Helper()
	f, err := dpe.NewFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	dd := f.OptionalHeader.(*dpe.OptionalHeader64).DataDirectory[DirDebug]
	var out []debugEntry
	for _, s := range f.Sections {
		if dd.VirtualAddress < s.VirtualAddress || dd.VirtualAddress >= s.VirtualAddress+s.VirtualSize {
			continue
		}
		le := binary.LittleEndian
		b := file[s.Offset+dd.VirtualAddress-s.VirtualAddress:]
		for i := uint32(0); i+debugEntrySize <= dd.Size; i += debugEntrySize {
			e := b[i:]
			out = append(out, debugEntry{le.Uint32(e[entryType:]), le.Uint32(e[entrySizeOfData:]), le.Uint32(e[entryRVA:]), le.Uint32(e[entryFilePtr:])})
		}
	}
	return out
}

// TestChecksum: the checksum of a real image built by Microsoft's linker
// is what checksum computes.
func TestChecksum(t *testing.T) {
	raw, err := os.ReadFile(signedPE32(t))
	if err != nil {
		t.Fatal(err)
	}
	at := binary.LittleEndian.Uint32(raw[0x3c:]) + 24 + 64
	stored := binary.LittleEndian.Uint32(raw[at:])
	binary.LittleEndian.PutUint32(raw[at:], 0)
	if got := checksum(raw); got != stored || stored == 0 {
		t.Errorf("checksum %#x, the linker's %#x", got, stored)
	}
}

// TestRebuildUnreadable: pages that cannot be read are listed, exactly,
// and hold zeros in the file; the rest is intact. The headers' first page
// is needed.
func TestRebuildUnreadable(t *testing.T) {
	exe := filepath.Join(testenv.GuestOut(t, "ntoskrnl.exe"), "ntoskrnl.exe")
	l := loadFile(t, exe, 0xfffff80012340000)
	full, err := Rebuild(l.g, l.g.base)
	if err != nil {
		t.Fatal(err)
	}
	text, data := l.f.Section(".text"), l.f.Section(".data")
	for _, rva := range []uint32{
		text.VirtualAddress + 0x1000, // code, from the file
		data.VirtualAddress + 0x2000, // .data past its file bytes
	} {
		page := l.g.base + uint64(rva)
		l.g.missing = map[uint64]bool{page: true}
		r, err := Rebuild(l.g, l.g.base)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(r.Unreadable) != fmt.Sprint([]uint64{page}) {
			t.Errorf("page %#x missing: unreadable %#x", page, r.Unreadable)
		}
		f, err := dpe.NewFile(bytes.NewReader(r.File))
		if err != nil {
			t.Fatal(err)
		}
		var off uint32
		for _, s := range f.Sections {
			if rva >= s.VirtualAddress && rva < s.VirtualAddress+s.Size {
				off = s.Offset + rva - s.VirtualAddress
			}
		}
		// The checksum differs, as the bytes do; it lies in the headers.
		sum := r.Headers.LfaNew + 24 + 64
		before, fullBefore := append([]byte(nil), r.File[:off]...), append([]byte(nil), full.File[:off]...)
		copy(before[sum:], fullBefore[sum:sum+4])
		if off == 0 || !bytes.Equal(r.File[off:off+PageSize], make([]byte, PageSize)) ||
			!bytes.Equal(before, fullBefore) || !bytes.Equal(r.File[off+PageSize:], full.File[off+PageSize:]) {
			t.Errorf("page %#x missing: file differs beyond its zeroed page", page)
		}
	}
	l.g.missing = map[uint64]bool{l.g.base: true}
	var ue *UnreadableError
	if r, err := Rebuild(l.g, l.g.base); !errors.As(err, &ue) || r != nil {
		t.Errorf("headers unreadable: %v", err)
	}
}

// TestRebuildSynthetic: a section with no file bytes gets memory's, a
// FileAlignment the format forbids is replaced, sections that overlap or
// an image over the bound are refused.
func TestRebuildSynthetic(t *testing.T) {
	g := synthMemory(func(b []byte) { b[0x3000] = 0x42 }) // .data, a bss section, was written
	r, err := Rebuild(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dpe.NewFile(bytes.NewReader(r.File))
	if err != nil {
		t.Fatal(err)
	}
	readobjParses(t, r.File, "synth.dll")
	if d := f.Section(".data"); d == nil || d.Size != 0x200 || r.File[d.Offset] != 0x42 {
		t.Errorf(".data: %+v", d)
	}
	if len(r.File) != 0x400+0x200+0x600+0x200 {
		t.Errorf("file of %#x bytes", len(r.File))
	}
	for _, fa := range []uint32{0, 3, 256, 1 << 20} {
		g := synthMemory(func(b []byte) { put32(b, synthOpt+36, fa) })
		r, err := Rebuild(g, g.base)
		if err != nil {
			t.Fatalf("FileAlignment %#x: %v", fa, err)
		}
		f, err := dpe.NewFile(bytes.NewReader(r.File))
		if err != nil || f.OptionalHeader.(*dpe.OptionalHeader64).FileAlignment != 512 {
			t.Errorf("FileAlignment %#x: %v", fa, err)
		}
	}
	// A low-alignment image keeps its alignment: file and memory agree.
	g = synthMemory(func(b []byte) { put32(b, synthOpt+32, 0x40); put32(b, synthOpt+36, 0x40) })
	if r, err := Rebuild(g, g.base); err != nil || binary.LittleEndian.Uint32(r.File[synthOpt+36:]) != 0x40 {
		t.Errorf("SectionAlignment 0x40: %v", err)
	}
	overlap := synthMemory(func(b []byte) {
		for i := 0; i < 3; i++ {
			put32(b, synthSecs+40*i+8, synthSize)
			put32(b, synthSecs+40*i+12, 0)
		}
	})
	if _, err := Rebuild(overlap, overlap.base); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlapping sections: %v", err)
	}
	if _, err := rebuild(g, g.base, synthSize-1); !errors.Is(err, ErrFormat) {
		t.Errorf("over the bound: %v", err)
	}
	// No sections: the headers alone.
	g = synthMemory(func(b []byte) { put16(b, synthLfanew+6, 0) })
	if r, err := Rebuild(g, g.base); err != nil || len(r.File) != 0x400 {
		t.Errorf("no sections: %v", err)
	}
}

// TestRebuildPE32High: a 32-bit image seen above 4 GiB (a corrupt view)
// keeps its preferred ImageBase, which cannot hold the address.
func TestRebuildPE32High(t *testing.T) {
	l := loadFile(t, signedPE32(t), 0x7ff700000000)
	r, err := Rebuild(l.g, l.g.base)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dpe.NewFile(bytes.NewReader(r.File))
	if err != nil || f.OptionalHeader.(*dpe.OptionalHeader32).ImageBase != 0x400000 {
		t.Errorf("%v", err)
	}
}

// TestRebuildShortHeaderPage: memory that ends just after the section
// table leaves the headers' page readable only in part. The headers read
// are kept (the rewrite needs them) and every page is listed. Found by
// FuzzRebuild: the failed page read used to zero the whole header page,
// so the dump had no MZ.
func TestRebuildShortHeaderPage(t *testing.T) {
	g := synthMemory(nil)
	g.mem = g.mem[:synthSecs+3*40]
	r, err := Rebuild(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{g.base, g.base + 0x1000, g.base + 0x2000, g.base + 0x3000}
	if fmt.Sprint(r.Unreadable) != fmt.Sprint(want) {
		t.Errorf("unreadable %#x, want %#x", r.Unreadable, want)
	}
	f, err := dpe.NewFile(bytes.NewReader(r.File))
	if err != nil {
		t.Fatalf("debug/pe: %v", err)
	}
	if len(f.Sections) != 3 || f.OptionalHeader.(*dpe.OptionalHeader64).ImageBase != g.base {
		t.Errorf("rebuilt %d sections, ImageBase %#x", len(f.Sections), f.OptionalHeader.(*dpe.OptionalHeader64).ImageBase)
	}
}
