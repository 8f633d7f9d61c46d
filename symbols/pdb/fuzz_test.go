package pdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/minipdb"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/frostvmi/frost/symbols/isf"
)

// Type record builders for the seeds.
func leaf(kind uint16, parts ...any) []byte {
	b := binary.LittleEndian.AppendUint16(nil, kind)
	for _, p := range parts {
		switch v := p.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case string:
			b = append(append(b, v...), 0)
		case []byte:
			b = append(b, v...)
		}
	}
	// Records are 4-aligned with their length; LF_PADn counts the bytes
	// left to the boundary.
	for n := (6 - len(b)%4) % 4; n > 0; n-- {
		b = append(b, byte(0xf0+n))
	}
	return b
}

func member(typ uint32, off []byte, name string) []byte {
	b := binary.LittleEndian.AppendUint16(nil, lfMember)
	b = binary.LittleEndian.AppendUint16(b, 3)
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, off...)
	b = append(append(b, name...), 0)
	for len(b)%4 != 0 {
		b = append(b, byte(0xf0+4-len(b)%4))
	}
	return b
}

func num16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func numU32(v uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint16(nil, lfULong), v)
}

// seedTypes exercises each record kind the reader converts.
func seedTypes() [][]byte {
	fields := append(append(append(append(
		member(0x23, num16(0), "Long"),
		member(0x1000, num16(0), "PageFrameNumber")...),
		member(0x1005, num16(8), "Next")...),
		member(0x1006, num16(16), "Arr")...),
		member(0x1009, numU32(0x8004), "Far")...)
	fields = append(fields, binary.LittleEndian.AppendUint32([]byte{0x04, 0x14, 0, 0}, 0x1007)...)
	enumerates := []byte{0x02, 0x15, 3, 0, 0x00, 0x80, 0xfb}
	enumerates = append(enumerates, "Neg\x00"...)
	enumerates = append(enumerates, 0x02, 0x15, 3, 0, 0x02, 0x80, 0x00, 0x80)
	enumerates = append(enumerates, "Big\x00"...)
	return [][]byte{
		leaf(lfBitfield, uint32(0x23), uint8(36), uint8(12)), // 0x1000
		leaf(lfFieldList, fields),                            // 0x1001
		leaf(lfStructure, uint16(0), uint16(propForwardRef), uint32(0), uint32(0), uint32(0), num16(0), "_T"), // 0x1002
		leaf(lfStructure, uint16(5), uint16(0), uint32(0x1001), uint32(0), uint32(0), numU32(0x9000), "_T"),   // 0x1003
		leaf(lfModifier, uint32(0x1002), uint16(1)),                                                           // 0x1004
		leaf(lfPointer, uint32(0x1004), uint32(0x1000c)),                                                      // 0x1005
		leaf(lfArray, uint32(0x1003), uint32(0x23), numU32(0x12000), ""),                                      // 0x1006
		leaf(lfFieldList, member(0x74, num16(0x7ff0), "Tail")),                                                // 0x1007
		leaf(lfFieldList, enumerates),                                                                         // 0x1008
		leaf(lfEnum, uint16(2), uint16(0), uint32(0x74), uint32(0x1008), "_E"),                                // 0x1009
		leaf(lfUnion, uint16(1), uint16(0), uint32(0x1007), num16(0x7ff4), "_U"),                              // 0x100a
		leaf(lfProcedure, uint32(3), uint8(0), uint8(0), uint16(0), uint32(0)),                                // 0x100b
	}
}

// FuzzPDB feeds arbitrary files to the reader. Whatever it accepts must
// index, answer lookups and write as ISF that reads back; whatever it
// refuses must be an error, not a panic. Read and New together must
// allocate at most 64 bytes per input byte plus 16 MiB.
func FuzzPDB(f *testing.F) {
	g, _ := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	p := minipdb.PDB{
		GUID: g, Age: 1, BlockSize: 512, Types: seedTypes(),
		Sections: []minipdb.Section{{Name: ".text", VA: 0x1000, Size: 0x100}},
		Publics:  []minipdb.Public{{Name: "Fn", Section: 1, Offset: 4}},
	}
	f.Add(p.Bytes())
	p.Types = nil
	f.Add(p.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		before := testenv.HeapAllocated()
		res, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz.pdb")
		var tab *symbols.Table
		if err == nil {
			if tab, err = symbols.New(res.Data); err != nil {
				t.Fatalf("New refused what Read produced: %v", err)
			}
		}
		if got, limit := testenv.HeapAllocated()-before, 64*uint64(len(data))+16<<20; got > limit {
			t.Fatalf("%d bytes of input allocated %d bytes, over %d", len(data), got, limit)
		}
		if tab == nil {
			return
		}
		exercise(tab)
		var buf bytes.Buffer
		if err := isf.Write(&buf, tab.Data()); err != nil {
			t.Fatalf("the ISF writer refused a read PDB: %v", err)
		}
		if _, err := isf.Read(&buf); err != nil {
			t.Fatalf("the ISF written from a read PDB does not read back: %v", err)
		}
	})
}

// exercise asks a table everything, a bounded number of times.
func exercise(tab *symbols.Table) {
	n := 0
	for name, ut := range tab.Data().UserTypes {
		tab.Size(name)
		for _, m := range ut.Fields {
			tab.Field(name + "." + m.Name)
			tab.Field(name + "." + m.Name + ".x")
			if n++; n > 200 {
				return
			}
		}
	}
	for name, s := range tab.Data().Symbols {
		tab.Address(name)
		tab.Nearest(s.Address + 1)
		symbols.Describe("m", tab, s.Address)
	}
	for name, e := range tab.Data().Enums {
		for c := range e.Constants {
			tab.EnumValue(name, c)
		}
	}
	_ = io.Discard
}

// TestSeedTypes checks the fuzz seed's hand-encoded records against
// llvm-pdbutil and against what they were meant to say, so the seed
// reaches the code it is for (numeric leaves, LF_INDEX, forward
// references, modifiers, signed enumerators).
func TestSeedTypes(t *testing.T) {
	g, _ := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	p := minipdb.PDB{GUID: g, Age: 1, Types: seedTypes()}
	path := filepath.Join(t.TempDir(), "seed.pdb")
	if err := os.WriteFile(path, p.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 0 {
		t.Errorf("notes: %q", res.Notes)
	}
	tab, err := symbols.New(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	for path, off := range map[string]uint64{"_T.Far": 0x8004, "_T.Tail": 0x7ff0, "_T.Next": 8, "_T.Arr": 16, "_U.Tail": 0x7ff0} {
		if f, err := tab.Field(path); err != nil || f.Offset != off {
			t.Errorf("%s at %#x, %v; want %#x", path, f.Offset, err, off)
		}
	}
	if f, _ := tab.Field("_T.Arr"); f.Type.Count != 2 || f.Size != 0x12000 {
		t.Errorf("_T.Arr = %+v", f)
	}
	if f, _ := tab.Field("_T.Next"); f.Type.Sub == nil || f.Type.Sub.Name != "_T" {
		t.Errorf("_T.Next points to %+v", f.Type.Sub)
	}
	for c, v := range map[string]int64{"Neg": -5, "Big": 0x8000} {
		if got, err := tab.EnumValue("_E", c); err != nil || got != v {
			t.Errorf("_E.%s = %d, %v", c, got, err)
		}
	}
	d := readDumpOf(t, path)
	c := compareWithDump(t, tab, d)
	if c.types != 2 || c.members != 7 || c.constants != 2 {
		t.Errorf("llvm-pdbutil comparison covered %+v", c)
	}
}

// FuzzTypes fuzzes the type records alone, inside a well-formed PDB, so
// the fuzzer spends its time in the TPI reader rather than on the
// container's checks. data is the TPI stream's record area.
func FuzzTypes(f *testing.F) {
	var seed []byte
	for _, r := range seedTypes() {
		seed = binary.LittleEndian.AppendUint16(seed, uint16(len(r)))
		seed = append(seed, r...)
	}
	f.Add(seed)
	g, _ := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		pdbBytes := (&minipdb.PDB{GUID: g, Age: 1, BlockSize: 512, RawTypes: data}).Bytes()
		before := testenv.HeapAllocated()
		res, err := Read(bytes.NewReader(pdbBytes), int64(len(pdbBytes)), "fuzz.pdb")
		var tab *symbols.Table
		if err == nil {
			if tab, err = symbols.New(res.Data); err != nil {
				t.Fatalf("New refused what Read produced: %v", err)
			}
		}
		if got, limit := testenv.HeapAllocated()-before, 64*uint64(len(pdbBytes))+16<<20; got > limit {
			t.Fatalf("%d bytes of records allocated %d bytes, over %d", len(data), got, limit)
		}
		if tab == nil {
			return
		}
		exercise(tab)
		var buf bytes.Buffer
		if err := isf.Write(&buf, tab.Data()); err != nil {
			t.Fatalf("the ISF writer refused a read PDB: %v", err)
		}
		if _, err := isf.Read(&buf); err != nil {
			t.Fatalf("the ISF written from a read PDB does not read back: %v", err)
		}
	})
}
