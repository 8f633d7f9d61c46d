package pdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/minipdb"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/symbols/msf"
)

func miniGUID(t *testing.T) symbols.GUID {
	t.Helper()
	g, err := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestMiniPDB reads a hand-built PDB: the DBI age wins over the info
// stream's, publics are placed by section, and llvm-pdbutil agrees the
// file is a PDB (so the builder the store tests use is sound).
func TestMiniPDB(t *testing.T) {
	p := minipdb.PDB{
		GUID: miniGUID(t), Age: 26, InfoAge: 30,
		Sections: []minipdb.Section{{Name: ".text", VA: 0x1000, Size: 0x800}, {Name: ".data", VA: 0x3000, Size: 0x100}},
		Publics:  []minipdb.Public{{Name: "Start", Section: 1, Offset: 0x10}, {Name: "Counter", Section: 2, Offset: 8}, {Name: "Nowhere", Section: 9, Offset: 0}},
	}
	for _, bs := range []uint32{512, 4096} {
		p.BlockSize = bs
		b := p.Bytes()
		res, err := Read(bytes.NewReader(b), int64(len(b)), "mini.pdb")
		if err != nil {
			t.Fatalf("block size %d: %v", bs, err)
		}
		id := res.Data.ID
		if id.GUID != p.GUID || id.Age != 26 || id.PDBName != "mini.pdb" {
			t.Errorf("identity %s", id)
		}
		for name, want := range map[string]uint64{"Start": 0x1010, "Counter": 0x3008} {
			if got := res.Data.Symbols[name].Address; got != want {
				t.Errorf("%s at %#x, want %#x", name, got, want)
			}
		}
		if _, ok := res.Data.Symbols["Nowhere"]; ok {
			t.Error("a public in section 9 of 2 was given an address")
		}
		rid, err := ReadIdentity(bytes.NewReader(b), int64(len(b)), "mini.pdb")
		if err != nil || rid != id {
			t.Errorf("ReadIdentity = %s, %v", rid, err)
		}
	}

	pdbPath := filepath.Join(t.TempDir(), "mini.pdb")
	p.BlockSize = 4096
	if err := os.WriteFile(pdbPath, p.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// The builder writes no publics hash stream, so llvm-pdbutil checks
	// the rest: identity, sections, an empty TPI.
	testenv.RequireTools(t, "llvm-pdbutil")
	out := string(testenv.Run(t, "", "llvm-pdbutil", "dump", "-summary", "-section-headers", "-types", pdbPath))
	g, a := reGUID.FindStringSubmatch(out), reAge.FindStringSubmatch(out)
	if g == nil || a == nil || g[1] != "606FF669-409B-00F7-FC8C-61A9C1670129" || a[1] != "30" {
		t.Errorf("llvm-pdbutil reads GUID %v age %v (the info stream's age):\n%s", g, a, out)
	}
	var vas []string
	for _, line := range strings.Split(out, "\n") {
		if m := reSecVA.FindStringSubmatch(line); m != nil {
			vas = append(vas, m[1])
		}
	}
	if strings.Join(vas, ",") != "1000,3000" || strings.Contains(out, "corrupt") {
		t.Errorf("llvm-pdbutil: section VAs %v:\n%s", vas, out)
	}
}

// TestMalformedPDB checks that broken containers and streams give
// errors, not panics or huge allocations.
func TestMalformedPDB(t *testing.T) {
	good := (&minipdb.PDB{GUID: miniGUID(t), Age: 1}).Bytes()
	le := func(b []byte, off int, v uint32) []byte {
		c := append([]byte(nil), b...)
		c[off], c[off+1], c[off+2], c[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return c
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"not msf":            bytes.Repeat([]byte{'x'}, 8192),
		"truncated":          good[:len(good)-4096],
		"block size 3":       le(good, 32, 3),
		"too many blocks":    le(good, 40, 1<<30),
		"directory 4 GiB":    le(good, 44, 0xffffffff),
		"block map past end": le(good, 52, 1<<20),
		"block map at 0":     le(good, 52, 0),
	} {
		_, err := Read(bytes.NewReader(b), int64(len(b)), "x.pdb")
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, msf.ErrFormat) {
			t.Errorf("%s: %v is not msf.ErrFormat", name, err)
		}
	}

	// Streams that lie about their contents.
	info := make([]byte, 27)
	for name, streams := range map[string][][]byte{
		"short info":     {nil, info},
		"bad dbi":        {nil, make([]byte, 28), nil, make([]byte, 70)},
		"tpi past end":   {nil, make([]byte, 28), le(make([]byte, 56), 16, 1<<20)},
		"tpi bad record": {nil, make([]byte, 28), append(le(le(le(make([]byte, 56), 4, 56), 8, 0x1000), 16, 4), 1, 0, 0, 0)},
	} {
		b := minipdb.MSF(512, streams)
		if _, err := Read(bytes.NewReader(b), int64(len(b)), "x.pdb"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDeepPointerChain: a chain of 200 pointers is cut off, not followed
// into a stack overflow or a model the ISF writer refuses.
func TestDeepPointerChain(t *testing.T) {
	var types [][]byte
	types = append(types, leaf(lfPointer, uint32(0x74), uint32(0x1000c)))
	for i := 1; i < 200; i++ {
		types = append(types, leaf(lfPointer, uint32(0x1000+i-1), uint32(0x1000c)))
	}
	fields := member(0x1000+199, num16(0), "P")
	types = append(types, leaf(lfFieldList, fields))
	types = append(types, leaf(lfStructure, uint16(1), uint16(0), uint32(0x1000+200), uint32(0), uint32(0), num16(8), "_DEEP"))
	b := (&minipdb.PDB{GUID: miniGUID(t), Age: 1, Types: types}).Bytes()
	res, err := Read(bytes.NewReader(b), int64(len(b)), "deep.pdb")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) == 0 {
		t.Error("a 200-deep pointer chain left no note")
	}
	depth := 0
	for r := &res.Data.UserTypes["_DEEP"].Fields[0].Type; r != nil; r = r.Sub {
		depth++
	}
	if depth > maxRefDepth+1 {
		t.Errorf("a chain %d deep was kept", depth)
	}
	var buf bytes.Buffer
	if err := isf.Write(&buf, res.Data); err != nil {
		t.Errorf("the ISF writer refused it: %v", err)
	}
}
