package pe

import (
	"bytes"
	dpe "debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// loaded is a PE file and its image as a loader maps it.
type loaded struct {
	path string
	raw  []byte
	f    *dpe.File
	g    *guestMemory
}

// loadFile maps the PE file at path at base the way the loader does:
// the headers, then each section's file bytes at its RVA, the rest zero.
// No relocation is applied, so mapped bytes equal file bytes.
func loadFile(t *testing.T, path string, base uint64) *loaded {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dpe.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var size, hdrs uint32
	switch oh := f.OptionalHeader.(type) {
	case *dpe.OptionalHeader64:
		size, hdrs = oh.SizeOfImage, oh.SizeOfHeaders
	case *dpe.OptionalHeader32:
		size, hdrs = oh.SizeOfImage, oh.SizeOfHeaders
	}
	g := &guestMemory{base: base, mem: make([]byte, size), missing: map[uint64]bool{}}
	copy(g.mem, raw[:hdrs])
	for _, s := range f.Sections {
		n := s.VirtualSize
		if n == 0 {
			n = s.Size
		}
		copy(g.mem[s.VirtualAddress:s.VirtualAddress+n], raw[s.Offset:s.Offset+min(s.Size, n)])
	}
	return &loaded{path: path, raw: raw, f: f, g: g}
}

// guestImages are mini-NT's images the tests map, with where they map
// them: user DLLs away from their preferred base, so a test sees the
// load base, not ImageBase, come back.
func guestImages(t *testing.T) map[string]uint64 {
	t.Helper()
	out := testenv.GuestOut(t, "ntdll.dll")
	return map[string]uint64{
		filepath.Join(out, "ntoskrnl.exe"): 0xfffff80012340000,
		filepath.Join(out, "hal.dll"):      0xfffff80045670000,
		filepath.Join(out, "ntdll.dll"):    0x7ffe12340000,
		filepath.Join(out, "frostrt.dll"):  0x7ffe56780000,
		filepath.Join(out, "writer.exe"):   0x140000000,
	}
}

// signedPE32 is a real 32-bit Windows image built by Microsoft's tools
// (with a checksum and an Authenticode certificate), from x/sys's test
// data in the module cache, read in place.
func signedPE32(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		testenv.Missing(t, "golang.org/x/sys is not in the module cache: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "windows", "testdata", "ev-signed-file.exe")
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "no signed PE32 test file: %v", err)
	}
	return p
}

// Synthetic image: a PE32+ DLL of four pages, small enough for fuzz
// seeds, with every structure this package reads.
//
//	0x0000 headers: .text, .rdata, .data
//	0x1000 .text  (0x40 bytes)
//	0x2000 .rdata: export directory (0x2000-0x2200), .pdata (0x2400),
//	       unwind info (0x2500)
//	0x3000 .data  (bss: no file bytes)
const (
	synthSize    = 0x4000
	synthLfanew  = 0x80
	synthOpt     = synthLfanew + 24
	synthDirs    = synthOpt + 112
	synthSecs    = synthOpt + 240
	synthExport  = 0x2000
	synthFuncs   = 0x2040
	synthNames   = 0x2060
	synthOrds    = 0x2070
	synthDLLName = 0x2080
	synthFwd     = 0x2100
	synthPdata   = 0x2400
	synthUnwind  = 0x2500
)

func put16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// synthImage builds the synthetic image in mapped layout. Its exports:
// ordinal base 5; "alpha" and "alpha2" share index 0 (0x1000); "beta" is
// index 1 (0x1010); "fwd" is index 2, forwarded to "other.Func"; index 3
// (0x1020) has no name; index 4 is an empty slot.
func synthImage() []byte {
	b := make([]byte, synthSize)
	copy(b, "MZ")
	put32(b, 0x3c, synthLfanew)
	copy(b[synthLfanew:], "PE\x00\x00")
	put16(b, synthLfanew+4, 0x8664) // Machine
	put16(b, synthLfanew+6, 3)      // NumberOfSections
	put32(b, synthLfanew+8, 0x5eed) // TimeDateStamp
	put16(b, synthLfanew+20, 240)   // SizeOfOptionalHeader
	put16(b, synthLfanew+22, 0x2022)
	put16(b, synthOpt, 0x20b)
	put32(b, synthOpt+16, 0x1000)                               // AddressOfEntryPoint
	binary.LittleEndian.PutUint64(b[synthOpt+24:], 0x180000000) // ImageBase
	put32(b, synthOpt+32, 0x1000)                               // SectionAlignment
	put32(b, synthOpt+36, 0x200)                                // FileAlignment
	put32(b, synthOpt+56, synthSize)                            // SizeOfImage
	put32(b, synthOpt+60, 0x400)                                // SizeOfHeaders
	put16(b, synthOpt+68, 3)                                    // Subsystem
	put32(b, synthOpt+108, 16)                                  // NumberOfRvaAndSizes
	put32(b, synthDirs+8*DirExport, synthExport)
	put32(b, synthDirs+8*DirExport+4, 0x200)
	put32(b, synthDirs+8*DirException, synthPdata)
	put32(b, synthDirs+8*DirException+4, 3*12)
	for i, s := range []struct {
		name             string
		va, vs, raw, ptr uint32
		chars            uint32
	}{
		{".text", 0x1000, 0x40, 0x200, 0x400, 0x60000020},
		{".rdata", 0x2000, 0x600, 0x600, 0x600, 0x40000040},
		{".data", 0x3000, 0x100, 0, 0, 0xc0000080},
	} {
		sh := synthSecs + 40*i
		copy(b[sh:], s.name)
		put32(b, sh+8, s.vs)
		put32(b, sh+12, s.va)
		put32(b, sh+16, s.raw)
		put32(b, sh+20, s.ptr)
		put32(b, sh+36, s.chars)
	}
	for i := 0x1000; i < 0x1040; i++ {
		b[i] = 0xc3 // ret
	}
	e := synthExport
	put32(b, e+12, synthDLLName)
	put32(b, e+16, 5) // ordinal base
	put32(b, e+20, 5) // functions
	put32(b, e+24, 4) // names
	put32(b, e+28, synthFuncs)
	put32(b, e+32, synthNames)
	put32(b, e+36, synthOrds)
	for i, rva := range []uint32{0x1000, 0x1010, synthFwd, 0x1020, 0} {
		put32(b, synthFuncs+4*i, rva)
	}
	at := synthDLLName
	at += copy(b[at:], "synth.dll\x00")
	for i, n := range []struct {
		name string
		idx  uint16
	}{{"alpha", 0}, {"alpha2", 0}, {"beta", 1}, {"fwd", 2}} {
		put32(b, synthNames+4*i, uint32(at))
		put16(b, synthOrds+2*i, n.idx)
		at += copy(b[at:], n.name+"\x00")
	}
	copy(b[synthFwd:], "other.Func\x00")
	for i, f := range []RuntimeFunction{{0x1000, 0x1010, synthUnwind}, {0x1010, 0x1020, synthUnwind + 8}, {0x1020, 0x1040, synthUnwind + 16}} {
		put32(b, synthPdata+12*i, f.Begin)
		put32(b, synthPdata+12*i+4, f.End)
		put32(b, synthPdata+12*i+8, f.UnwindData)
	}
	for i := 0; i < 3; i++ {
		b[synthUnwind+8*i] = 1 // UNWIND_INFO version 1, no codes
	}
	return b
}

// synthMemory maps a copy of the synthetic image, after mutate.
func synthMemory(mutate func(b []byte)) *guestMemory {
	g := &guestMemory{base: 0x7ff700000000, mem: synthImage(), missing: map[uint64]bool{}}
	if mutate != nil {
		mutate(g.mem)
	}
	return g
}
