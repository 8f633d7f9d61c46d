package pdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
)

func openTable(t *testing.T, path string) *symbols.Table {
	t.Helper()
	tab, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return tab
}

func buildTricky(t *testing.T) (pdbPath, exePath string) {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "tricky.c"))
	if err != nil {
		t.Fatal(err)
	}
	return testenv.BuildPDB(t, src, "TrickyEntry")
}

// TestTrickyAgainstPDBUtil reads a PDB built from testdata/tricky.c and
// checks every named type, member, enumerator and public against
// llvm-pdbutil.
func TestTrickyAgainstPDBUtil(t *testing.T) {
	pdbPath, _ := buildTricky(t)
	d := readDump(t, pdbPath)
	res, err := readFile(pdbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 0 {
		t.Errorf("reader notes on a clean PDB: %q", res.Notes)
	}
	tab, err := symbols.New(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	c := compareWithDump(t, tab, d)
	t.Logf("checked %+v", c)
	if c.types < 10 || c.members < 1500 || c.bitfields < 7 || c.enums < 2 || c.constants < 10 || c.publics < 5 {
		t.Errorf("comparison covered too little: %+v", c)
	}
	var sawIndex bool
	for _, r := range d.records {
		sawIndex = sawIndex || r.next != 0
	}
	if !sawIndex {
		t.Error("lld-link emitted no LF_INDEX for LONGLIST; the continuation path went untested")
	}
}

// TestTrickyPaths checks answers known from tricky.c itself.
func TestTrickyPaths(t *testing.T) {
	pdbPath, _ := buildTricky(t)
	tab := openTable(t, pdbPath)

	type want struct {
		off          uint64
		bitPos, bits uint32
		size         uint64
		kind         symbols.Kind
	}
	for path, w := range map[string]want{
		// Bitfields across 64-bit words: B does not fit after A's 40 bits.
		"BITS.A": {0, 0, 40, 8, symbols.KindBitfield},
		"BITS.B": {8, 0, 30, 8, symbols.KindBitfield},
		"BITS.C": {16, 0, 60, 8, symbols.KindBitfield},
		"BITS.D": {24, 0, 3, 4, symbols.KindBitfield},
		"BITS.E": {28, 0, 1, 1, symbols.KindBitfield},
		"BITS.F": {32, 0, 63, 8, symbols.KindBitfield},
		"BITS.G": {40, 0, 0, 4, symbols.KindBase},
		// Anonymous members reached directly, named ones by name.
		"ANON.Whole":          {8, 0, 0, 8, symbols.KindBase},
		"ANON.High":           {12, 0, 0, 4, symbols.KindBase},
		"ANON.Hard.Pfn":       {8, 1, 40, 8, symbols.KindBitfield},
		"ANON.Inner.U.C":      {20, 0, 0, 2, symbols.KindArray},
		"ANON.Inner.U.C[1]":   {21, 0, 0, 1, symbols.KindBase},
		"ANON.u.Bits.Rest":    {24, 1, 63, 8, symbols.KindBitfield},
		"ANON.Deep":           {32, 0, 0, 4, symbols.KindBase},
		"ANON.After":          {36, 0, 0, 4, symbols.KindBase},
		"ARRAYS.Items":        {0, 0, 0, 56, symbols.KindArray},
		"ARRAYS.Items[3].b":   {28, 0, 0, 1, symbols.KindBase},
		"ARRAYS.Grid[2][3].b": {56 + 2*32 + 3*8 + 4, 0, 0, 1, symbols.KindBase},
		"ARRAYS.Grid[2]":      {56 + 2*32, 0, 0, 32, symbols.KindArray},
		"ARRAYS.Cv":           {168, 0, 0, 4, symbols.KindBase},
		"PTRS.Opaque":         {0, 0, 0, 8, symbols.KindPointer},
		"PTRS.Callback":       {16, 0, 0, 8, symbols.KindPointer},
		"PTRS.OpaqueList":     {32, 0, 0, 24, symbols.KindArray},
		"BIG.Last":            {0x1b008, 0, 0, 8, symbols.KindBase},
		"BIG.LateBits.B":      {0x1b010 + 8, 0, 30, 8, symbols.KindBitfield},
		"USESENUM.W64":        {8, 0, 0, 8, symbols.KindEnum},
		"USESENUM.Small":      {16, 0, 4, 4, symbols.KindBitfield},
		"LONGLIST.Final":      {0x8000 + 1500*4, 0, 0, 4, symbols.KindBase},
		"TOPUNION.E.b":        {4, 0, 0, 1, symbols.KindBase},
	} {
		f, err := tab.Field(path)
		if err != nil {
			t.Errorf("Field(%s): %v", path, err)
			continue
		}
		got := want{f.Offset, f.BitPosition, f.BitLength, f.Size, f.Kind}
		if got != w {
			t.Errorf("Field(%s) = %+v, want %+v", path, got, w)
		}
	}

	for name, size := range map[string]uint64{"BIG": 0x1b040, "TOPUNION": 16, "LONGLIST": 0x8000 + 1501*4, "LATER": 4, "WIDE": 4, "WIDE64": 8, "pointer": 8} {
		if got, err := tab.Size(name); err != nil || got != size {
			t.Errorf("Size(%s) = %#x, %v; want %#x", name, got, err, size)
		}
	}
	if ut, err := tab.UserType("TOPUNION"); err != nil || ut.Kind != symbols.KindUnion {
		t.Errorf("TOPUNION: %+v, %v", ut, err)
	}

	// Negative and wide enumerators, at the enum's own width.
	for c, v := range map[string]int64{"WideNeg": -5, "WideMin": -2147483648, "WideSmall": 7, "WideBig": 0x8000,
		"WideShortMax": 0xffff, "WideHuge": 0x7fffffff, "WideU": 0x12345, "WideNeg16": -0x8000} {
		if got, err := tab.EnumValue("WIDE", c); err != nil || got != v {
			t.Errorf("WIDE.%s = %d, %v; want %d", c, got, err, v)
		}
	}
	top := uint64(0xfedcba9876543210)
	if got, err := tab.EnumValue("WIDE64", "Wide64Top"); err != nil || uint64(got) != top {
		t.Errorf("WIDE64.Wide64Top = %#x, %v", uint64(got), err)
	}

	// Incomplete types: the pointer is known, the pointee is not.
	f, err := tab.Field("PTRS.Opaque")
	if err != nil || f.Type.Sub == nil || f.Type.Sub.Kind != symbols.KindStruct || f.Type.Sub.Name != "OPAQUE" {
		t.Errorf("PTRS.Opaque points to %+v, %v; want struct OPAQUE", f.Type.Sub, err)
	}
	if _, err := tab.Size("OPAQUE"); !errors.Is(err, symbols.ErrTypeNotFound) {
		t.Errorf("Size(OPAQUE) = %v, want ErrTypeNotFound", err)
	}
	if f, err := tab.Field("PTRS.Callback"); err != nil || f.Type.Sub == nil || f.Type.Sub.Kind != symbols.KindFunction {
		t.Errorf("PTRS.Callback = %+v, %v; want a pointer to a function", f.Type, err)
	}
	if _, err := tab.Field("PTRS.Later.Defined"); !errors.Is(err, symbols.ErrBadPath) {
		t.Errorf("a path through a pointer: %v, want ErrBadPath", err)
	}
	if _, err := tab.Field("ARRAYS.Items[7]"); !errors.Is(err, symbols.ErrBadPath) {
		t.Errorf("index past the array: %v, want ErrBadPath", err)
	}

	// Globals carry their types; a static without a public is still found.
	for name, wantType := range map[string]string{"GlobalBig": "BIG", "GlobalUnion": "TOPUNION", "GlobalCounter": "int", "LocalCounter": "int"} {
		s, err := tab.Symbol(name)
		if err != nil || s.Type == nil || s.Type.Name != wantType {
			t.Errorf("Symbol(%s) = %+v, %v; want type %s", name, s, err, wantType)
		}
	}
	fn, err := tab.Address("TrickyFunction")
	if err != nil {
		t.Fatal(err)
	}
	if name, off, err := tab.Nearest(fn + 3); err != nil || name != "TrickyFunction" || off != 3 {
		t.Errorf("Nearest(TrickyFunction+3) = %s+%d, %v", name, off, err)
	}
	if got := symbols.Describe("tricky", tab, fn+0x3); got != "tricky!TrickyFunction+0x3" {
		t.Errorf("Describe = %q", got)
	}
}

// TestMiniNTAgainstPDBUtil checks mini-NT's own kernel PDB, as lld-link
// wrote it, against llvm-pdbutil, and the paths Frost depends on.
func TestMiniNTAgainstPDBUtil(t *testing.T) {
	pdbPath := filepath.Join(testenv.GuestOut(t, "ntkrnlmp.pdb"), "ntkrnlmp.pdb")
	d := readDump(t, pdbPath)
	res, err := readFile(pdbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 0 {
		t.Errorf("reader notes on mini-NT's PDB: %q", res.Notes)
	}
	tab, err := symbols.New(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	c := compareWithDump(t, tab, d)
	t.Logf("checked %+v", c)
	if c.types < 50 || c.members < 500 || c.bitfields < 50 || c.publics < 100 {
		t.Errorf("comparison covered too little: %+v", c)
	}
	if tab.Identity().PDBName != "ntkrnlmp.pdb" {
		t.Errorf("PDB name %q", tab.Identity().PDBName)
	}

	for _, path := range []string{
		"_MMPTE.u.Hard.PageFrameNumber", "_MMPTE.u.Proto.ProtoAddress", "_MMPTE.u.Soft.PageFileHigh",
		"_MMPTE.u.Trans.Transition", "_MMPTE.u.Subsect.SubsectionAddress", "_MMPTE.u.List.NextEntry",
		"_EPROCESS.Pcb.DirectoryTableBase", "_EPROCESS.UniqueProcessId", "_EPROCESS.ActiveProcessLinks",
		"_EPROCESS.ImageFileName", "_MMVAD_SHORT.u1.VadFlags1.MemCommit", "_MMVAD.FirstPrototypePte",
		"_KPCR.Prcb", "_KPCR.Self", "_MI_SYSTEM_INFORMATION.Hardware.InvalidPteMask",
	} {
		if _, err := tab.Field(path); err != nil {
			t.Errorf("Field(%s): %v", path, err)
		}
	}
	pfn, err := tab.Field("_MMPTE.u.Hard.PageFrameNumber")
	if err == nil && (pfn.Kind != symbols.KindBitfield || pfn.BitPosition != 12 || pfn.Size != 8) {
		t.Errorf("_MMPTE.u.Hard.PageFrameNumber = %+v", pfn)
	}
	for _, name := range []string{"NtCreatePagingFile", "Phase1InitializationDiscard", "InitWinPEModeType", "KiImplementedPhysicalBits", "MiState", "PsActiveProcessHead"} {
		if a, err := tab.Address(name); err != nil || a == 0 {
			t.Errorf("Address(%s) = %#x, %v", name, a, err)
		}
	}
}

func BenchmarkLoadMiniNTPDB(b *testing.B) {
	path := filepath.Join(testenv.GuestOut(b, "ntkrnlmp.pdb"), "ntkrnlmp.pdb")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Read(bytes.NewReader(raw), int64(len(raw)), "ntkrnlmp.pdb")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := symbols.New(res.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFieldPathsMiniNT resolves the paths Frost's translator and
// kernel model use, on mini-NT's PDB.
func BenchmarkFieldPathsMiniNT(b *testing.B) {
	tab, err := Open(filepath.Join(testenv.GuestOut(b, "ntkrnlmp.pdb"), "ntkrnlmp.pdb"))
	if err != nil {
		b.Fatal(err)
	}
	paths := []string{"_MMPTE.u.Hard.PageFrameNumber", "_EPROCESS.Pcb.DirectoryTableBase", "_MMVAD_SHORT.u1.VadFlags1.MemCommit", "_KPCR.Prcb"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tab.Field(paths[i%len(paths)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
